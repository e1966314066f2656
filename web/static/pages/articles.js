// 文章: the article editor, submit for approval, approve, publish or mass
// send, and read-count charts per article and per column
// (/api/admin/articles, issue 8; role editor). Phase 1: built against
// API.md; adjusted when the articles API lands.
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, tabs, form, table, paged, link, loading, errorBox, button, action, badge, dialog, safeURL } from '../js/ui.js';
import { lineChart, barChart } from '../js/chart.js';
import { time, num, label, articleStatuses } from '../js/format.js';

export async function render(main, ctx) {
  const [first] = ctx.parts;
  if (first && first !== 'columns') return renderArticle(main, ctx, first);
  main.append(pageHeader('文章', '公众号文章的编辑、审批、发布与阅读数据'),
    tabs([{ label: '文章', path: '/articles', active: !first }, { label: '专栏统计', path: '/articles/columns', active: first === 'columns' }]));
  if (first === 'columns') return renderColumns(main, ctx);
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: [
      { name: 'title', label: '标题', full: true },
      { name: 'author', label: '作者' },
      { name: 'column', label: '专栏', placeholder: '如 巧媳妇·富全家' },
      { name: 'digest', label: '摘要', type: 'textarea', rows: 2 },
      { name: 'body', label: '正文（HTML，将自动清理不安全的标签）', type: 'textarea', rows: 10 },
      { name: 'content_source_url', label: '原文链接', placeholder: 'https://' },
    ],
    submitLabel: '保存草稿',
    onSubmit: (v) => post('/articles', v),
    successMessage: '草稿已保存',
    onSuccess: (a) => ctx.navigate('/articles/' + a.id),
  });
  createBox.append(card('新建文章', f.el));
  main.append(h('div', { class: 'actions' }, button('新建文章', () => { createBox.hidden = !createBox.hidden; }, 'btn btn-primary')), h('p'),
    createBox, card(null, paged([
      { label: '标题', value: (a) => link('/articles/' + a.id, a.title) },
      { label: '专栏', value: (a) => a.column || '—' },
      { label: '状态', value: (a) => badge(label(articleStatuses, a.status), a.status === 'published' ? 'ok' : 'info') },
      { label: '发布时间', value: (a) => time(a.published_at) || '—', class: 'nowrap' },
      { label: '阅读', value: (a) => num(a.reads), class: 'num' },
    ], (cursor) => get('/articles', { cursor, limit: 50 }), '还没有文章。')));
}

async function renderArticle(main, ctx, id) {
  const box = h('div', null, loading());
  main.append(link('/articles', '← 返回文章列表'), box);
  let a;
  try {
    a = await get('/articles/' + encodeURIComponent(id));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const step = (text, path, msg) => {
    const b = button(text, async () => {
      if (await action(b, () => post(`/articles/${a.id}/${path}`), msg) !== undefined) ctx.refresh();
    }, 'btn');
    return b;
  };
  const publish = button('发布', async () => {
    const r = await dialog({
      title: '发布文章', submitLabel: '发布',
      fields: [{ name: 'mode', label: '发布方式', type: 'select', options: [['freepublish', '发布（不推送通知）'], ['masssend', '群发（推送给粉丝）']] }],
      onSubmit: (v) => post(`/articles/${a.id}/publish`, { mode: v.mode }),
      successMessage: '已提交发布，微信处理完成后状态会更新',
    });
    if (r) ctx.refresh();
  }, 'btn btn-primary');
  const stats = h('div', null, loading());
  clear(box, pageHeader(a.title, `${a.author || ''} ${a.column ? '· ' + a.column : ''}`),
    card('状态', h('p', null, badge(label(articleStatuses, a.status), 'info'), safeURL(a.url) ? h('span', null, ' ', h('a', { href: safeURL(a.url), target: '_blank', rel: 'noopener noreferrer' }, '查看原文')) : null),
      h('div', { class: 'row' }, step('提交审批', 'submit', '已提交审批'), step('审批通过', 'approve', '已审批'), publish)),
    card('阅读数据', stats),
    a.digest ? card('摘要', h('p', null, a.digest)) : null);
  try {
    const s = await get(`/articles/${a.id}/stats`);
    const days = s.items || s.daily || [];
    clear(stats, days.length ? lineChart({
      title: '每日阅读', labels: days.map((d) => d.date || d.day),
      series: [{ name: '阅读次数', values: days.map((d) => d.reads || 0) }, { name: '阅读人数', values: days.map((d) => d.read_users || 0) },
        { name: '分享', values: days.map((d) => d.shares || 0) }],
    }) : h('p', { class: 'empty' }, '暂无阅读数据（每天 8 点后同步前一天的数据）。'));
  } catch (err) {
    clear(stats, errorBox(err));
  }
}

async function renderColumns(main, ctx) {
  const box = h('div', null, loading());
  main.append(card('各专栏阅读', box));
  try {
    const r = await get('/articles/columns');
    const items = r.items || [];
    clear(box, items.length ? barChart({ title: '各专栏阅读次数', items: items.map((c) => ({ label: c.column || c.name, value: c.reads || 0 })) }) : null,
      table([
        { label: '专栏', value: (c) => c.column || c.name },
        { label: '文章数', value: (c) => num(c.articles), class: 'num' },
        { label: '阅读次数', value: (c) => num(c.reads), class: 'num' },
        { label: '分享', value: (c) => num(c.shares), class: 'num' },
      ], items, '暂无专栏数据。'));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
  }
}
