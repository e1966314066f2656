// 微课堂: courses, the lesson editor, scheduling and publishing, push
// results (/api/admin/courses, /lessons, issue 5; role editor). Phase 1:
// built against API.md; adjusted when the lessons API lands.
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, form, table, link, loading, errorBox, button, action, badge } from '../js/ui.js';
import { time, num, label, lessonStatuses } from '../js/format.js';

const kinds = [['video', '视频'], ['audio', '音频'], ['article', '图文']];

export async function render(main, ctx) {
  if (ctx.parts[0] === 'courses' && ctx.parts[1]) return renderCourse(main, ctx, ctx.parts[1]);
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: [
      { name: 'title', label: '课程名称', full: true },
      { name: 'intro', label: '课程简介', type: 'textarea', rows: 3 },
      { name: 'audience', label: '适合人群', placeholder: '如 0–3 岁婴幼儿家长' },
      { name: 'cover_url', label: '封面图地址', placeholder: 'https://' },
    ],
    submitLabel: '创建课程',
    onSubmit: (v) => post('/courses', v),
    successMessage: '课程已创建',
    onSuccess: (c) => ctx.navigate('/lessons/courses/' + c.id),
  });
  createBox.append(card('新建课程', f.el));
  const list = h('div', null, loading());
  main.append(pageHeader('微课堂', '心系妇儿 · 家庭教育空中课堂', button('新建课程', () => { createBox.hidden = !createBox.hidden; }, 'btn btn-primary')),
    createBox, card('课程', list));
  try {
    const res = await get('/courses');
    clear(list, table([
      { label: '课程', value: (c) => link('/lessons/courses/' + c.id, c.title) },
      { label: '适合人群', value: (c) => c.audience || '—' },
      { label: '课时', value: (c) => num(c.lesson_count ?? (c.lessons || []).length), class: 'num' },
      { label: '订阅', value: (c) => num(c.subscribers), class: 'num' },
    ], res.items, '还没有课程。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

async function renderCourse(main, ctx, id) {
  const box = h('div', null, loading());
  main.append(link('/lessons', '← 返回课程列表'), box);
  let c;
  try {
    c = await get('/courses/' + encodeURIComponent(id));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const editor = form({
    fields: [
      { name: 'title', label: '课时标题', full: true },
      { name: 'kind', label: '形式', type: 'select', options: kinds, value: 'video' },
      { name: 'url', label: '视频/音频地址', placeholder: 'https://' },
      { name: 'duration_s', label: '时长（秒）', type: 'number', min: 0 },
      { name: 'publish_at', label: '定时发布', type: 'datetime', hint: '留空则保存为草稿，可稍后手动发布' },
      { name: 'body', label: '图文内容（HTML，将自动清理不安全的标签）', type: 'textarea', rows: 8 },
    ],
    submitLabel: '保存课时',
    onSubmit: (v) => post(`/courses/${c.id}/lessons`, v),
    successMessage: (l) => (l && l.status === 'scheduled' ? '课时已保存，将按时发布' : '课时已保存'),
    onSuccess: () => ctx.refresh(),
  });
  clear(box, pageHeader(c.title, c.audience || ''),
    c.intro ? card('简介', h('p', null, c.intro)) : null,
    card('课时', table([
      { label: '标题', value: (l) => l.title },
      { label: '形式', value: (l) => label(Object.fromEntries(kinds), l.kind) },
      { label: '状态', value: (l) => badge(label(lessonStatuses, l.status), l.status === 'published' ? 'ok' : 'info') },
      { label: '发布时间', value: (l) => time(l.published_at || l.publish_at) || '—', class: 'nowrap' },
      { label: '推送', value: (l) => (l.push_id ? link('/pushes/' + l.push_id, '查看送达') : '—') },
      { label: '', value: (l) => (l.status === 'published' ? '' : publishButton(l, ctx)) },
    ], c.lessons || [], '还没有课时。')),
    card('新建课时', editor.el));
}

function publishButton(l, ctx) {
  const b = button('立即发布', async () => {
    if (await action(b, () => post(`/lessons/${l.id}/publish`), '已发布，正在推送给订阅者') !== undefined) ctx.refresh();
  }, 'btn btn-small btn-primary');
  return b;
}
