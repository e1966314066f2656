// 微课堂: courses (list, create, edit), a course's lessons with their
// figures, the lesson editor (video, audio or article; link, body,
// duration, order, scheduled publishing), publishing now and the push
// results; taking content down: deleting a draft or scheduled lesson,
// withdrawing (下架) and restoring a published one, withdrawing and
// deleting a course (api/lessons.go; admin, editor).
//
// Routes: /lessons · /lessons/courses/:id · /lessons/courses/:id/new ·
// /lessons/:id (a lesson).
import { get, post, patch, del } from '../js/api.js';
import {
  h, clear, card, pageHeader, form, table, link, loading, errorBox, button, action, badge, dialog, statCards, safeURL,
} from '../js/ui.js';
import { time, num, percent, label, lessonStatuses, lessonKinds, audiences } from '../js/format.js';
import { hbarChart } from '../js/chart.js';
import { preview } from '../js/preview.js';

const audienceOptions = Object.entries(audiences);

export async function render(main, ctx) {
  const [first, second, third] = ctx.parts;
  if (first === 'courses' && second && third === 'new') return renderLessonEditor(main, ctx, { courseID: second });
  if (first === 'courses' && second) return renderCourse(main, ctx, second);
  if (first) return renderLessonEditor(main, ctx, { lessonID: first });
  return renderCourses(main, ctx);
}

function courseFields(c = {}) {
  return [
    { name: 'title', label: '课程名称', value: c.title, full: true, required: true, maxlength: 128 },
    { name: 'audience', label: '适合人群', type: 'select', options: audienceOptions, value: c.audience || 'all' },
    { name: 'sort', label: '排序', type: 'number', value: c.sort ?? 0, hint: '数字小的排在前面' },
    { name: 'cover_url', label: '封面图地址', value: c.cover_url, placeholder: 'https://', hint: 'https 链接或本站图片地址（/api/files/…）' },
    { name: 'intro', label: '课程简介', type: 'textarea', rows: 3, value: c.intro, maxlength: 2000 },
  ];
}

function courseBody(v) {
  return { title: v.title, audience: v.audience, sort: v.sort ?? 0, cover_url: v.cover_url.trim(), intro: v.intro };
}

async function renderCourses(main, ctx) {
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: courseFields(),
    submitLabel: '创建课程',
    onSubmit: (v) => post('/courses', courseBody(v)),
    successMessage: '课程已创建',
    onSuccess: (c) => ctx.navigate('/lessons/courses/' + c.id),
  });
  createBox.append(card('新建课程', f.el));
  const list = h('div', null, loading());
  main.append(pageHeader('微课堂', '心系妇儿 · 家庭教育空中课堂：课程、课时、定时发布与推送',
    button('新建课程', () => {
      createBox.hidden = !createBox.hidden;
      if (!createBox.hidden) createBox.querySelector('input').focus();
    }, 'btn btn-primary new-course')),
  createBox, card('课程', list));
  const rows = [];
  let cursor = '';
  async function more() {
    try {
      const res = await get('/courses', { cursor, limit: 100 });
      rows.push(...(res.items || []));
      cursor = res.next_cursor || '';
      clear(list, table([
        { label: '课程', value: (c) => link('/lessons/courses/' + c.id, c.title) },
        { label: '适合人群', value: (c) => c.audience_name || label(audiences, c.audience) },
        { label: '已发布课时', value: (c) => num(c.lesson_count), class: 'num' },
        { label: '订阅', value: (c) => num(c.subscribers), class: 'num' },
        { label: '排序', value: (c) => String(c.sort), class: 'num' },
        { label: '创建时间', value: (c) => time(c.created_at), class: 'nowrap' },
      ], rows, '还没有课程。点击“新建课程”创建第一门课。'), cursor ? button('加载更多', more, 'btn more') : null);
    } catch (err) {
      clear(list, errorBox(err, () => ctx.refresh()));
    }
  }
  await more();
}

function lessonStatus(l) {
  const kinds = { published: 'ok', scheduled: 'info', draft: '', withdrawn: 'warn' };
  return badge(label(lessonStatuses, l.status), kinds[l.status] || '');
}

// pushed: the lesson was published (and may be withdrawn since); it has a
// push and figures.
const pushed = (l) => l.status === 'published' || l.status === 'withdrawn';

function duration(s) {
  if (!s) return '—';
  const m = Math.floor(s / 60);
  return m ? `${m} 分${s % 60 ? ` ${s % 60} 秒` : ''}` : `${s} 秒`;
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
  const edit = button('编辑课程', async () => {
    const saved = await dialog({
      title: '编辑课程', fields: courseFields(c), submitLabel: '保存',
      onSubmit: (v) => patch('/courses/' + c.id, courseBody(v)), successMessage: '课程已保存',
    });
    if (saved) ctx.refresh();
  }, 'btn edit-course');
  const add = link(`/lessons/courses/${c.id}/new`, '新建课时', 'btn btn-primary new-lesson');
  const lessons = c.lessons || [];
  const withdrawCourse = lessons.some((l) => l.status === 'published' || l.status === 'scheduled') ? button('下架课程', async () => {
    const done = await dialog({
      title: '下架课程', danger: true, submitLabel: '下架',
      message: `“${c.title}”的已发布课时全部下架，家长将看不到本课程；定时发布的课时改为草稿。尚未发出的上新通知不再发送，已有的学习和推送统计保留。`,
      fields: [{ name: 'reason', label: '下架原因', type: 'textarea', rows: 2, maxlength: 200, hint: '选填，记入审计日志' }],
      onSubmit: (v) => post(`/courses/${c.id}/withdraw`, { reason: v.reason || '' }),
      successMessage: (r) => `已下架 ${r.withdrawn.length} 节课时` + (r.unscheduled ? `，${r.unscheduled} 节定时课时改为草稿` : ''),
    });
    if (done) ctx.refresh();
  }, 'btn withdraw-course') : null;
  const removeCourse = button('删除课程', async () => {
    const done = await dialog({
      title: '删除课程', danger: true, submitLabel: '删除',
      message: lessons.some(pushed)
        ? `删除“${c.title}”：草稿和定时课时一并删除；已下架课时的学习和推送统计保留，课程归档后不再显示。课程中仍有已发布课时时不能删除，请先下架。`
        : `删除“${c.title}”及其全部草稿和定时课时，订阅记录一并删除。此操作不能撤销。`,
      onSubmit: () => del('/courses/' + c.id),
      successMessage: (r) => (r.archived ? '课程已删除（已归档，统计保留）' : '课程已删除'),
    });
    if (done) ctx.navigate('/lessons');
  }, 'btn delete-course');
  const cover = safeURL(c.cover_url);
  clear(box,
    pageHeader(c.title, `${c.audience_name || label(audiences, c.audience)} · 订阅 ${num(c.subscribers)} 人`, edit, add, withdrawCourse, removeCourse),
    statCards([
      { label: '已发布课时', value: num(c.lesson_count) },
      { label: '订阅人数', value: num(c.subscribers) },
      { label: '学习人数', value: num(c.learners), hint: '学过至少一节课的人数' },
      { label: '学完全部', value: num(c.finished), hint: '学完全部已发布课时的人数' },
      { label: '完课率', value: percent(c.completion_rate), hint: '学完全部 ÷ 学习人数' },
    ]),
    c.intro || cover ? card('简介', cover ? h('img', { src: cover, alt: '课程封面', class: 'cover-thumb' }) : null,
      c.intro ? h('p', { class: 'story' }, c.intro) : null) : null,
    card('课时', table([
      { label: '序号', value: (l) => String(l.seq), class: 'num' },
      { label: '标题', value: (l) => link('/lessons/' + l.id, l.title) },
      { label: '形式', value: (l) => label(lessonKinds, l.kind) },
      { label: '时长', value: (l) => duration(l.duration_s), class: 'nowrap' },
      { label: '状态', value: lessonStatus },
      { label: '发布时间', value: (l) => time(l.published_at || l.publish_at) || '—', class: 'nowrap' },
      { label: '通知', value: (l) => (pushed(l) ? `${num(l.figures.notified)} / ${num(l.figures.subscribers)}` : '—'), class: 'num' },
      { label: '学习', value: (l) => (pushed(l) ? num(l.figures.started) : '—'), class: 'num' },
      { label: '学完', value: (l) => (pushed(l) ? `${num(l.figures.completed)}（${percent(l.figures.completion_rate)}）` : '—'), class: 'nowrap' },
      { label: '', value: (l) => lessonActions(l, ctx) },
    ], lessons, '还没有课时。点击“新建课时”添加。')),
    lessons.some(pushed) ? card('各课时推送与学习', lessonFigures(lessons)) : null);
}

// lessonFigures: each published (or since withdrawn) lesson's push and
// learners, as a chart of completions and a table of the push results.
function lessonFigures(lessons) {
  const pub = lessons.filter(pushed);
  return [
    hbarChart({ title: '各课时学完人数', items: pub.map((l) => ({ label: l.title, value: l.figures.completed,
      hint: `学习 ${l.figures.started} 人，学完 ${l.figures.completed} 人` })) }),
    table([
      { label: '课时', value: (l) => (l.status === 'withdrawn' ? [l.title, ' ', lessonStatus(l)] : l.title) },
      { label: '推送对象', value: (l) => num(l.figures.subscribers), class: 'num' },
      { label: '已通知', value: (l) => num(l.figures.notified), class: 'num' },
      { label: '未授权', value: (l) => num(l.figures.no_consent), class: 'num' },
      { label: '无渠道', value: (l) => num(l.figures.no_channel), class: 'num' },
      { label: '失败', value: (l) => num(l.figures.failed), class: 'num' },
      { label: '通知后打开', value: (l) => num(l.figures.opened), class: 'num' },
      { label: '推送结果', value: (l) => (l.push_id ? link('/pushes/' + l.push_id,
        l.status === 'withdrawn' ? '已停止' : l.figures.push_done ? '查看送达' : '发送中…') : '—') },
    ], pub),
  ];
}

function lessonActions(l, ctx) {
  const after = () => ctx.refresh();
  if (pushed(l)) {
    return h('div', { class: 'row' }, l.push_id ? link('/pushes/' + l.push_id, '推送结果') : null,
      l.status === 'published' ? withdrawButton(l, after) : restoreButton(l, after));
  }
  return h('div', { class: 'row' }, link('/lessons/' + l.id, '编辑', 'btn btn-small'), publishButton(l, after), deleteButton(l, after));
}

// withdrawButton takes a published lesson down (下架), with a reason.
function withdrawButton(l, after) {
  return button('下架', async () => {
    const ok = await dialog({
      title: '下架课时', danger: true, submitLabel: '下架',
      message: `下架“${l.title}”后，家长在小程序中看不到它，也不能再记录学习进度；尚未发出的上新通知不再发送。已有的推送和学习统计保留，之后可以重新上架。`,
      fields: [{ name: 'reason', label: '下架原因', type: 'textarea', rows: 2, maxlength: 200, hint: '选填，记入审计日志' }],
      onSubmit: (v) => post(`/lessons/${l.id}/withdraw`, { reason: v.reason || '' }), successMessage: '已下架',
    });
    if (ok) after(ok);
  }, 'btn btn-small withdraw-lesson');
}

// restoreButton puts a withdrawn lesson back, without notifying anyone.
function restoreButton(l, after) {
  return button('重新上架', async () => {
    const ok = await dialog({
      title: '重新上架', submitLabel: '重新上架',
      message: `“${l.title}”将重新对家长可见，发布时间不变；不会再次通知订阅者。`,
      onSubmit: () => post(`/lessons/${l.id}/restore`), successMessage: '已重新上架',
    });
    if (ok) after(ok);
  }, 'btn btn-small restore-lesson');
}

// deleteButton deletes a draft or scheduled lesson.
function deleteButton(l, after) {
  return button('删除', async () => {
    const ok = await dialog({
      title: '删除课时', danger: true, submitLabel: '删除',
      message: `删除“${l.title}”？` + (l.status === 'scheduled' ? '定时发布随之取消，' : '') + '此操作不能撤销。',
      onSubmit: () => del('/lessons/' + l.id), successMessage: '课时已删除',
    });
    if (ok) after(ok);
  }, 'btn btn-small delete-lesson');
}

function publishButton(l, after) {
  const b = button('立即发布', async () => {
    const ok = await dialog({
      title: '立即发布', message: `发布“${l.title}”后，订阅本课程的家长会收到上新通知。发布后不能再修改。`, submitLabel: '发布',
      onSubmit: () => post(`/lessons/${l.id}/publish`), successMessage: '已发布，正在通知订阅者',
    });
    if (ok) after(ok);
  }, 'btn btn-small btn-primary publish-lesson');
  return b;
}

// renderLessonEditor edits a lesson (lessonID) or writes a new one in
// courseID. A published lesson is shown read-only with its push results.
async function renderLessonEditor(main, ctx, { lessonID, courseID }) {
  const box = h('div', null, loading());
  main.append(box);
  let l = null;
  let c;
  try {
    if (lessonID) {
      l = await get('/lessons/' + encodeURIComponent(lessonID));
      courseID = l.course_id;
    }
    c = await get('/courses/' + encodeURIComponent(courseID));
  } catch (err) {
    clear(box, link('/lessons', '← 返回课程列表'), errorBox(err, () => ctx.refresh()));
    return;
  }
  const back = link('/lessons/courses/' + c.id, '← 返回《' + c.title + '》');
  if (l && pushed(l)) return renderPublished(box, back, c, l, ctx);

  const isNew = !l;
  const v = l || { kind: 'video', seq: (c.lessons || []).reduce((m, x) => Math.max(m, x.seq), 0) + 1 };
  const previewBox = h('div');
  const f = form({
    fields: [
      { name: 'title', label: '课时标题', value: v.title, full: true, required: true, maxlength: 128 },
      isNew ? { name: 'kind', label: '形式', type: 'select', options: Object.entries(lessonKinds), value: v.kind }
        : { name: 'kind_shown', label: '形式', value: label(lessonKinds, v.kind), hint: '形式创建后不能更改' },
      { name: 'url', label: '视频/音频地址', value: v.url, placeholder: 'https://', hint: '须为 https 链接' },
      { name: 'duration_s', label: '时长（秒）', type: 'number', min: 0, max: 86400, value: v.duration_s || '', hint: '如 12 分 30 秒填 750' },
      { name: 'seq', label: '序号', type: 'number', value: v.seq, hint: '课时在课程中的顺序' },
      { name: 'publish_at', label: '定时发布', type: 'datetime', value: v.publish_at, hint: '北京时间；留空则保存为草稿，之后可手动发布' },
      { name: 'body', label: '正文（HTML）', type: 'textarea', rows: 10, value: v.body || '', hint: '图文微课必填；保存时服务器会清除脚本等不安全的内容' },
    ],
    submitLabel: isNew ? '保存课时' : '保存修改',
    names: { kind: '形式' },
    onSubmit: (vals) => {
      const kind = isNew ? vals.kind : v.kind;
      const body = {
        title: vals.title, url: kind === 'article' ? '' : vals.url.trim(), body: vals.body,
        duration_s: vals.duration_s ?? 0, seq: vals.seq,
      };
      if (isNew) {
        body.kind = kind;
        if (vals.publish_at) body.publish_at = vals.publish_at;
        return post(`/courses/${c.id}/lessons`, body);
      }
      body.publish_at = vals.publish_at || null;
      return patch('/lessons/' + l.id, body);
    },
    successMessage: (r) => (r.status === 'scheduled' ? `已保存，将于 ${time(r.publish_at)} 自动发布` : '已保存为草稿'),
    onSuccess: (r) => {
      if (isNew) ctx.navigate('/lessons/' + r.id, true);
      else ctx.refresh();
    },
  });
  const kindOf = () => (isNew ? f.el.querySelector('[data-field=kind] select').value : v.kind);
  const sync = () => {
    const k = kindOf();
    f.el.querySelector('[data-field=url]').hidden = k === 'article';
    f.el.querySelector('[data-field=body] label').firstChild.textContent = k === 'article' ? '正文（HTML，必填）' : '图文说明（HTML，可选）';
  };
  if (!isNew) {
    const shown = f.el.querySelector('[data-field=kind_shown]');
    shown.dataset.skip = '';
    shown.querySelector('input').readOnly = true;
  }
  f.el.addEventListener('change', sync);
  sync();
  const showPreview = () => clear(previewBox, preview(f.el.querySelector('[data-field=body] textarea').value, '（没有正文）'));
  f.el.querySelector('[data-field=body] textarea').addEventListener('input', debounce(showPreview, 300));
  showPreview();

  const actions = [];
  if (!isNew) {
    actions.push(publishButton(l, () => ctx.refresh()));
    actions.push(deleteButton(l, () => ctx.navigate('/lessons/courses/' + c.id)));
    if (l.status === 'scheduled') {
      const unschedule = button('取消定时', async () => {
        if (await action(unschedule, () => patch('/lessons/' + l.id, { publish_at: null }), '已取消定时，课时改为草稿') !== undefined) ctx.refresh();
      }, 'btn btn-small');
      actions.push(unschedule);
    }
  }
  clear(box, back,
    pageHeader(isNew ? '新建课时' : l.title, `《${c.title}》` + (l ? ` · ${label(lessonStatuses, l.status)}` +
      (l.status === 'scheduled' ? `，将于 ${time(l.publish_at)} 发布` : '') : ''), ...actions),
    h('div', { class: 'grid-2 editor-grid' }, card(isNew ? '课时内容' : '编辑课时', f.el),
      card('正文预览', h('p', { class: 'muted small' }, '预览只显示安全的排版；图片以占位符显示。'), previewBox)));
  f.el.querySelector('input').focus();
}

function renderPublished(box, back, c, l, ctx) {
  const fig = h('div', null, loading());
  const withdrawn = l.status === 'withdrawn';
  clear(box, back,
    pageHeader(l.title, `《${c.title}》 · 已于 ${time(l.published_at)} 发布` + (withdrawn ? ' · 已下架' : ''),
      l.push_id ? link('/pushes/' + l.push_id, '推送送达明细', 'btn') : null,
      withdrawn ? restoreButton(l, () => ctx.refresh()) : withdrawButton(l, () => ctx.refresh())),
    withdrawn ? h('div', { class: 'notice notice-warn lesson-withdrawn' },
      '本课时已下架：家长看不到它，学习进度不再记录，尚未发出的上新通知已停止。下列统计为下架前的实际情况。') : null,
    fig,
    card('课时内容', h('dl', { class: 'kv' },
      h('dt', null, '形式'), h('dd', null, label(lessonKinds, l.kind)),
      h('dt', null, '地址'), h('dd', null, l.url || '—'),
      h('dt', null, '时长'), h('dd', null, duration(l.duration_s)),
      h('dt', null, '序号'), h('dd', null, String(l.seq))),
    l.body ? preview(l.body) : null,
    h('p', { class: 'muted small' }, '已发布的课时不能再修改。')));
  const lr = (c.lessons || []).find((x) => x.id === l.id);
  if (!lr) {
    clear(fig);
    return;
  }
  const f = lr.figures;
  const state = withdrawn ? badge('已停止', 'warn') : f.push_done ? badge('已发送完毕', 'ok') : badge('发送中', 'info');
  clear(fig, h('section', { class: 'card push-result' }, h('h2', null, '推送结果', ' ', state),
    statCards([
      { label: '推送对象', value: num(f.subscribers), hint: '发布时的订阅人数' },
      { label: '已通知', value: num(f.notified) },
      { label: '未授权', value: num(f.no_consent), hint: '未同意订阅消息' },
      { label: '无渠道', value: num(f.no_channel) },
      { label: '失败', value: num(f.failed) },
      { label: '待发送', value: num(f.pending) },
      { label: '通知后打开', value: num(f.opened) },
      { label: '学习人数', value: num(f.started) },
      { label: '学完人数', value: num(f.completed) },
      { label: '完成率', value: percent(f.completion_rate) },
    ])));
}

function debounce(fn, ms) {
  let t = 0;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}
