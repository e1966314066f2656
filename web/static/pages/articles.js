// 文章: the Official Account's articles: the editor (HTML body with a safe
// preview), the cover upload, the content check, submission, approval by
// another admin (two-person rule), publishing now or at a time (发表 or
// 群发), the daily read chart of an article and the totals per column
// (api/articles.go; editor writes and publishes, admin approves).
//
// Routes: /articles (?status=) · /articles/new · /articles/columns ·
// /articles/:id.
import { get, post, patch, del, upload } from '../js/api.js';
import {
  h, clear, card, pageHeader, tabs, form, table, paged, link, loading, errorBox, button, action, badge, dialog, safeURL,
  statCards, toast,
} from '../js/ui.js';
import { lineChart, hbarChart } from '../js/chart.js';
import { time, num, label, articleStatuses } from '../js/format.js';
import { session, hasRole } from '../js/session.js';
import { preview } from '../js/preview.js';

const listStatuses = [
  ['', '全部'], ['draft', '草稿'], ['pending', '待审批'], ['approved', '已审批'], ['scheduled', '定时发布'],
  ['publishing', '发布中'], ['published', '已发布'], ['failed', '发布失败'],
];

const statusKinds = { published: 'ok', failed: 'err', pending: 'warn', approved: 'info', scheduled: 'info', publishing: 'info' };

function statusBadge(a) {
  return badge(label(articleStatuses, a.status), statusKinds[a.status] || '');
}

export async function render(main, ctx) {
  const [first] = ctx.parts;
  if (first === 'new') return renderEditor(main, ctx, null);
  if (first === 'columns') return renderColumns(main, ctx);
  if (first) return renderArticle(main, ctx, first);
  return renderList(main, ctx);
}

async function columnsOf() {
  try {
    return (await get('/columns')).items || [];
  } catch {
    return [];
  }
}

function header(active) {
  return [
    pageHeader('文章', '公众号文章的编辑、审批、发布与阅读数据', link('/articles/new', '写文章', 'btn btn-primary new-article')),
    tabs([{ label: '文章', path: '/articles', active: active === 'list' }, { label: '专栏', path: '/articles/columns', active: active === 'columns' }]),
  ];
}

async function renderList(main, ctx) {
  const status = ctx.query.get('status') || '';
  const columnID = ctx.query.get('column_id') || '';
  const cols = await columnsOf();
  const colName = new Map(cols.map((c) => [c.id, c.name]));
  const status_ = h('select', { 'aria-label': '按状态筛选' }, listStatuses.map(([v, l]) => h('option', { value: v, selected: v === status }, l)));
  const column = h('select', { 'aria-label': '按专栏筛选' }, h('option', { value: '' }, '全部专栏'),
    cols.map((c) => h('option', { value: String(c.id), selected: String(c.id) === columnID }, c.name)));
  const go = () => {
    const q = new URLSearchParams();
    if (status_.value) q.set('status', status_.value);
    if (column.value) q.set('column_id', column.value);
    ctx.navigate('/articles' + (q.toString() ? '?' + q : ''));
  };
  status_.addEventListener('change', go);
  column.addEventListener('change', go);
  main.append(...header('list'), card(null, h('div', { class: 'row' }, status_, column), h('p'), paged([
    { label: '标题', value: (a) => link('/articles/' + a.id, a.title) },
    { label: '作者', value: (a) => a.author || '—' },
    { label: '专栏', value: (a) => colName.get(a.column_id) || '—' },
    { label: '状态', value: statusBadge },
    { label: '发布时间', value: (a) => time(a.published_at) || (a.status === 'scheduled' ? '定时 ' + time(a.publish_at) : '—'), class: 'nowrap' },
    { label: '阅读', value: (a) => num(a.reads), class: 'num' },
    { label: '分享', value: (a) => num(a.shares), class: 'num' },
  ], (cursor) => get('/articles', { status, column_id: columnID, cursor, limit: 50 }), '没有符合条件的文章。点击“写文章”开始。')));
}

// --- the editor ---

function articleFields(a, cols) {
  return [
    { name: 'title', label: '标题', value: a.title, full: true, required: true, hint: '不超过 32 个字（微信的限制）' },
    { name: 'author', label: '作者', value: a.author, maxlength: 16 },
    { name: 'column_id', label: '专栏', type: 'select', options: [['0', '不属于专栏'], ...cols.map((c) => [String(c.id), c.name])], value: String(a.column_id || 0) },
    { name: 'source_url', label: '原文链接', value: a.source_url, placeholder: 'https://' },
    { name: 'digest', label: '摘要', type: 'textarea', rows: 2, value: a.digest, maxlength: 120, hint: '显示在分享卡片上，不超过 120 字' },
    { name: 'body', label: '正文（HTML）', type: 'textarea', rows: 14, value: a.body || '', required: true,
      hint: '可粘贴排版好的 HTML；保存时服务器只保留安全的排版（段落、标题、列表、表格、链接、微信图片），脚本等会被清除。' },
  ];
}

function articleBody(v) {
  return {
    title: v.title, author: v.author, digest: v.digest, body: v.body, source_url: v.source_url.trim(),
    column_id: Number(v.column_id) || 0,
  };
}

// renderEditor writes a new draft (a is null) or edits draft a, with the
// live preview beside it.
async function renderEditor(main, ctx, a, into) {
  const cols = await columnsOf();
  const isNew = !a;
  const previewBox = h('div');
  const f = form({
    fields: articleFields(a || {}, cols),
    submitLabel: isNew ? '保存草稿' : '保存修改',
    onSubmit: (v) => (isNew ? post('/articles', articleBody(v)) : patch('/articles/' + a.id, articleBody(v))),
    successMessage: isNew ? '草稿已保存' : '已保存（内容检测需重新进行）',
    onSuccess: (r) => (isNew ? ctx.navigate('/articles/' + r.id, true) : ctx.refresh()),
  });
  const body = f.el.querySelector('[data-field=body] textarea');
  const show = () => clear(previewBox, preview(body.value, '（正文为空）'));
  let t = 0;
  body.addEventListener('input', () => { clearTimeout(t); t = setTimeout(show, 300); });
  show();
  const grid = h('div', { class: 'grid-2 editor-grid' }, card(isNew ? '新文章' : '编辑草稿', f.el),
    card('预览', h('p', { class: 'muted small' }, '预览按服务器的规则只显示安全的排版；图片以占位符显示。'), previewBox));
  if (into) {
    into.append(grid);
    return;
  }
  main.append(link('/articles', '← 返回文章列表'), pageHeader('写文章', '先保存草稿，再上传封面、提交审批'), grid);
  f.el.querySelector('input').focus();
}

// --- one article ---

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
  const me = session().staff;
  const admin = hasRole(['admin']);
  const flow = h('div', { class: 'row workflow' });
  const info = [];
  const act = (text, fn, msg, cls = 'btn') => {
    const b = button(text, async () => {
      if (await action(b, fn, msg) !== undefined) ctx.refresh();
    }, cls);
    return b;
  };

  if (a.reject_reason && a.status === 'draft') {
    info.push(h('div', { class: 'notice notice-error', role: 'status' }, h('strong', null, '已退回：'), a.reject_reason));
  }
  if (a.check_suggest) {
    const kinds = { pass: ['内容检测通过', 'ok'], review: ['内容检测：需人工复核', 'warn'], risky: ['内容检测未通过', 'err'] };
    const [text, kind] = kinds[a.check_suggest] || [a.check_suggest, ''];
    info.push(h('p', null, badge(text, kind)));
  }
  switch (a.status) {
    case 'draft':
      flow.append(act('内容检测', () => post(`/articles/${a.id}/check`), '检测完成', 'btn check'),
        act('提交审批', () => post(`/articles/${a.id}/submit`), '已提交，等待另一位管理员审批', 'btn btn-primary submit'));
      break;
    case 'pending':
      if (admin) {
        const own = me.id === a.created_by || me.id === a.submitted_by;
        if (own) info.push(h('p', { class: 'muted small' }, '这篇文章由您撰写或提交，须由另一位管理员审批。'));
        flow.append(act('审批通过', () => post(`/articles/${a.id}/approve`), '已审批通过', 'btn btn-primary approve'), rejectButton(a, ctx));
      } else {
        info.push(h('p', { class: 'muted' }, '已提交，等待管理员审批。'));
      }
      break;
    case 'approved': case 'scheduled': case 'failed':
      flow.append(publishButton(a, ctx));
      if (admin) flow.append(rejectButton(a, ctx));
      if (a.status === 'scheduled') info.push(h('p', null, `将于 ${time(a.publish_at)} 自动${a.mode === 'masssend' ? '群发' : '发表'}。`));
      if (a.status === 'failed') info.push(h('div', { class: 'notice notice-error' }, '发布失败：', a.fail_reason || '微信未说明原因'));
      break;
    case 'publishing':
      info.push(h('p', { class: 'muted publishing' }, '正在发布，微信处理完成后状态会自动更新…'));
      setTimeout(() => { if (box.isConnected) ctx.refresh(); }, 2000);
      break;
    case 'published': {
      const url = safeURL(a.article_url);
      info.push(h('p', null, `已于 ${time(a.published_at)} ${a.mode === 'masssend' ? '群发' : '发表'}`,
        url ? [' · ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, '在微信中查看')] : null,
        a.mode !== 'masssend' ? ''
          : a.counts_unknown ? '（送达人数未知：微信未推送群发结果，群发状态由查询得到）'
            : `（送达 ${num(a.sent_count)} 人，失败 ${num(a.error_count)} 人）`));
      break;
    }
    default:
  }

  const stats = h('div', null, loading());
  clear(box,
    pageHeader(a.title, [a.author, '创建于 ' + time(a.created_at)].filter(Boolean).join(' · '), statusBadge(a)),
    card('流程', flowSteps(a), info, flow),
    card('封面', coverBox(a, ctx)),
    a.status === 'published' ? card('阅读数据', stats) : null);
  if (a.status === 'draft') {
    await renderEditor(main, ctx, a, box);
  } else {
    box.append(card('正文', a.digest ? h('p', { class: 'muted' }, '摘要：' + a.digest) : null, preview(a.body),
      h('p', { class: 'muted small' }, '只有草稿可以修改；如需修改请由管理员退回。')));
  }
  if (a.status === 'published') loadStats(stats, a);
}

// flowSteps lists the steps from draft to publication, the ones done
// ticked and the one the article waits at in bold.
function flowSteps(a) {
  const at = { draft: a.cover_url ? 1 : 0, pending: 2, approved: 3, scheduled: 3, failed: 3, publishing: 3, published: 4 }[a.status] ?? 0;
  const steps = ['保存草稿并上传封面', '内容检测、提交审批', '另一位管理员审批', '发表或群发（可定时）'];
  return h('ol', { class: 'steps small flow-steps' }, steps.map((s, i) =>
    h('li', { class: i < at ? 'done' : i === at ? 'current' : '' }, s, i < at ? ' ✓' : '')));
}

function coverBox(a, ctx) {
  const url = safeURL(a.cover_url);
  const shown = url && url.startsWith('/') ? h('img', { src: url, alt: '封面', class: 'cover-thumb' })
    : url ? h('p', null, '已上传封面 · ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, '查看')) : h('p', { class: 'muted' }, '还没有封面。提交审批前须上传。');
  if (a.status !== 'draft') return shown;
  const input = h('input', { type: 'file', accept: 'image/jpeg,image/png', class: 'cover-file', 'aria-label': '选择封面图片' });
  const err = h('p', { class: 'field-error', role: 'alert' });
  const go = button('上传封面', async () => {
    err.textContent = '';
    const file = input.files && input.files[0];
    if (!file) {
      err.textContent = '请先选择 JPEG 或 PNG 图片';
      return;
    }
    if (file.size > 10 << 20) {
      err.textContent = '封面图片不能超过 10 MiB';
      return;
    }
    try {
      go.disabled = true;
      go.textContent = '上传中…';
      await upload(`/articles/${a.id}/cover`, file);
      toast('封面已上传');
      ctx.refresh();
    } catch (e) {
      err.textContent = e.message;
      go.disabled = false;
      go.textContent = '上传封面';
    }
  }, 'btn upload-cover');
  return h('div', null, shown, h('div', { class: 'row' }, input, go), err,
    h('p', { class: 'hint' }, 'JPEG 或 PNG，不超过 10 MiB；上传到微信素材库。'));
}

function rejectButton(a, ctx) {
  return button('退回修改', async () => {
    const ok = await dialog({
      title: '退回文章', message: '文章将回到草稿，作者可修改后重新提交。', submitLabel: '退回', danger: true,
      fields: [{ name: 'reason', label: '退回原因', type: 'textarea', rows: 3, required: true }],
      validate: (v) => (v.reason.trim() ? null : { reason: '请写明退回原因' }),
      onSubmit: (v) => post(`/articles/${a.id}/reject`, { reason: v.reason.trim() }), successMessage: '已退回',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-danger reject');
}

function publishButton(a, ctx) {
  return button(a.status === 'failed' ? '重新发布' : a.status === 'scheduled' ? '修改发布时间' : '发布', async () => {
    const p = dialog({
      title: '发布文章',
      message: '发表：出现在公众号主页，不推送通知。群发：推送给粉丝（每月次数有限）。',
      fields: [
        { name: 'mode', label: '发布方式', type: 'select', options: [['freepublish', '发表（不推送通知）'], ['masssend', '群发（推送给粉丝）']], value: a.mode || 'freepublish' },
        { name: 'to_all', label: '群发给全部粉丝', type: 'checkbox', value: a.mode === 'masssend' ? a.to_all : true },
        { name: 'tag_id', label: '或只发给标签', type: 'number', min: 1, value: a.tag_id || '', hint: '公众号后台的粉丝标签 id；勾选“全部粉丝”时不填' },
        { name: 'when', label: '时间', type: 'select', options: [['now', '立即'], ['later', '定时']], value: a.status === 'scheduled' ? 'later' : 'now' },
        { name: 'publish_at', label: '发布时间', type: 'datetime', value: a.publish_at, hint: '北京时间' },
      ],
      validate: (v) => (v.when === 'later' && !v.publish_at ? { publish_at: '请选择发布时间' } : null),
      submitLabel: '确定发布',
      onSubmit: (v) => {
        const body = { mode: v.mode };
        if (v.mode === 'masssend') {
          body.to_all = v.to_all;
          if (!v.to_all && v.tag_id) body.tag_id = v.tag_id;
        }
        if (v.when === 'later') body.publish_at = v.publish_at;
        return post(`/articles/${a.id}/publish`, body);
      },
      successMessage: (r) => (r.status === 'scheduled' ? `已定时，将于 ${time(r.publish_at)} 发布` : '已提交发布，微信处理完成后状态会更新'),
    });
    const dlg = document.querySelector('dialog.dialog:last-of-type');
    if (dlg) {
      const sync = () => {
        const mass = dlg.querySelector('[data-field=mode] select').value === 'masssend';
        dlg.querySelector('[data-field=to_all]').hidden = !mass;
        dlg.querySelector('[data-field=tag_id]').hidden = !mass || dlg.querySelector('[data-field=to_all] input').checked;
        dlg.querySelector('[data-field=publish_at]').hidden = dlg.querySelector('[data-field=when] select').value !== 'later';
      };
      dlg.addEventListener('change', sync);
      sync();
    }
    if (await p) ctx.refresh();
  }, 'btn btn-primary publish');
}

// loadStats draws the daily reads of a published article (synced from
// WeChat's datacube each morning for the day before).
async function loadStats(box, a) {
  try {
    const s = await get(`/articles/${a.id}/stats`);
    const byDay = new Map();
    for (const d of s.days || []) {
      const x = byDay.get(d.date) || { reads: 0, read_users: 0, shares: 0 };
      x.reads += d.reads;
      x.read_users += d.read_users;
      x.shares += d.shares;
      byDay.set(d.date, x);
    }
    const dates = [...byDay.keys()].sort();
    const t = s.totals || {};
    clear(box, statCards([
      { label: '阅读次数', value: num(t.reads) }, { label: '阅读人数', value: num(t.read_users) },
      { label: '分享次数', value: num(t.shares) }, { label: '收藏人数', value: num(t.favourites) },
    ]), dates.length ? lineChart({
      title: '每日阅读',
      labels: dates.map((d) => d.slice(5)),
      series: [
        { name: '阅读次数', values: dates.map((d) => byDay.get(d).reads) },
        { name: '阅读人数', values: dates.map((d) => byDay.get(d).read_users) },
        { name: '分享次数', values: dates.map((d) => byDay.get(d).shares) },
      ],
    }) : h('p', { class: 'empty' }, '暂无阅读数据：微信每天 8 点后提供前一天的数据，系统 8:30 同步。'));
  } catch (err) {
    clear(box, errorBox(err, () => loadStats(box, a)));
  }
}

// --- columns ---

async function renderColumns(main, ctx) {
  main.append(...header('columns'));
  const createBox = card('新建专栏', form({
    class: 'inline-form',
    fields: [{ name: 'name', label: '专栏名称', placeholder: '如 巧媳妇·富全家' }, { name: 'description', label: '说明' }],
    submitLabel: '创建', reset: true,
    onSubmit: (v) => post('/columns', v), successMessage: '专栏已创建', onSuccess: () => ctx.refresh(),
  }).el);
  const box = h('div', null, loading());
  main.append(card('各专栏阅读', box), createBox);
  try {
    const items = (await get('/columns')).items || [];
    clear(box, items.length ? hbarChart({ title: '各专栏阅读次数', items: items.map((c) => ({ label: c.name, value: c.reads, hint: `${c.articles} 篇文章` })) }) : null,
      table([
        { label: '专栏', value: (c) => link('/articles?column_id=' + c.id, c.name) },
        { label: '说明', value: (c) => c.description || '—' },
        { label: '文章', value: (c) => num(c.articles), class: 'num' },
        { label: '阅读次数', value: (c) => num(c.reads), class: 'num' },
        { label: '阅读人数', value: (c) => num(c.read_users), class: 'num' },
        { label: '分享', value: (c) => num(c.shares), class: 'num' },
        { label: '', value: (c) => columnActions(c, ctx) },
      ], items, '还没有专栏。'));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
  }
}

function columnActions(c, ctx) {
  const rename = button('编辑', async () => {
    const ok = await dialog({
      title: '编辑专栏', submitLabel: '保存',
      fields: [{ name: 'name', label: '专栏名称', value: c.name }, { name: 'description', label: '说明', value: c.description }],
      onSubmit: (v) => patch('/columns/' + c.id, v), successMessage: '已保存',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-small');
  const remove = button('删除', async () => {
    const ok = await dialog({
      title: '删除专栏', message: `确定删除“${c.name}”？只有没有文章的专栏可以删除。`, submitLabel: '删除', danger: true,
      onSubmit: () => del('/columns/' + c.id), successMessage: '已删除',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-small btn-danger');
  return h('div', { class: 'row' }, rename, remove);
}
