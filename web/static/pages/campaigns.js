// 最美家庭: campaigns, the review queue with photos, approve/reject with a
// reason, and integrity figures (/api/admin/campaigns, /nominations,
// issue 4; role reviewer). Phase 1: built against API.md; the field names
// are adjusted when the campaigns API lands.
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, tabs, form, table, paged, link, loading, errorBox, button, dialog, badge, statCards, toast, safeURL } from '../js/ui.js';
import { time, num, label, nominationStatuses } from '../js/format.js';

const seedCategories = [
  ['best_mother', '最美母亲'], ['green_family', '绿色家庭'], ['clean_family', '廉洁家庭'], ['harmonious_family', '和睦家庭'],
  ['reading_family', '书香家庭'], ['best_mother_in_law', '最美婆婆'], ['best_daughter_in_law', '最美媳妇'], ['best_child', '最美子女'],
];
const phases = { draft: '未开始', nominate: '推荐中', review: '审核中', vote: '投票中', results: '已公布', closed: '已结束' };

export async function render(main, ctx) {
  const [first] = ctx.parts;
  const sec = first === 'review' ? 'review' : first ? 'detail' : 'list';
  main.append(pageHeader('最美家庭', '德润万家 · 最美家庭推荐、审核与投票'),
    tabs([{ label: '活动', path: '/campaigns', active: sec !== 'review' }, { label: '待审核推荐', path: '/campaigns/review', active: sec === 'review' }]));
  if (sec === 'review') return renderReview(main, ctx);
  if (sec === 'detail') return renderCampaign(main, ctx, first);
  return renderList(main, ctx);
}

function categoriesOf(c) {
  return (c.categories || []).map((x) => x.name || x.code).join('、');
}

async function renderList(main, ctx) {
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: [
      { name: 'title', label: '活动名称', full: true },
      { name: 'description', label: '活动说明', type: 'textarea', rows: 3 },
      { name: 'categories', label: '评选类别', type: 'checkboxes', options: seedCategories, value: seedCategories.map(([c]) => c) },
      { name: 'nominate_from', label: '推荐开始', type: 'datetime' },
      { name: 'nominate_to', label: '推荐截止', type: 'datetime' },
      { name: 'vote_from', label: '投票开始', type: 'datetime' },
      { name: 'vote_to', label: '投票截止', type: 'datetime' },
      { name: 'votes_per_day', label: '每人每天票数', type: 'number', min: 1, value: 3 },
    ],
    submitLabel: '创建活动',
    onSubmit: (v) => post('/campaigns', {
      ...v, categories: v.categories.map((code) => ({ code, name: seedCategories.find(([c]) => c === code)[1] })),
    }),
    successMessage: '活动已创建',
    onSuccess: (c) => ctx.navigate('/campaigns/' + c.id),
  });
  createBox.append(card('新建活动', f.el));
  const list = h('div', null, loading());
  main.append(h('div', { class: 'actions' }, button('新建活动', () => { createBox.hidden = !createBox.hidden; }, 'btn btn-primary')), h('p'),
    createBox, card('全部活动', list));
  try {
    const res = await get('/campaigns');
    clear(list, table([
      { label: '活动', value: (c) => link('/campaigns/' + c.id, c.title) },
      { label: '阶段', value: (c) => badge(label(phases, c.phase), 'info') },
      { label: '类别', value: categoriesOf },
      { label: '推荐时间', value: (c) => `${time(c.nominate_from)} 至 ${time(c.nominate_to)}` },
      { label: '投票时间', value: (c) => `${time(c.vote_from)} 至 ${time(c.vote_to)}` },
    ], res.items, '还没有活动。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

async function renderReview(main, ctx) {
  const box = h('div');
  main.append(card('待审核的推荐', h('p', { class: 'muted small' }, '内容已通过微信内容安全检测；通过后将在小程序展示，不通过须写明原因，推荐人会收到通知。'), box));
  clear(box, paged([
    { label: '推荐', value: (n) => reviewItem(n, ctx) },
  ], (cursor) => get('/nominations', { status: 'pending', cursor, limit: 20 }), '没有待审核的推荐。'));
}

function reviewItem(n, ctx) {
  const photos = (n.photos || []).map((p) => safeURL(typeof p === 'string' ? p : p && p.url)).filter(Boolean);
  const approve = button('通过', async () => {
    approve.disabled = true;
    try {
      await post(`/nominations/${n.id}/review`, { decision: 'approve' });
      toast('已通过');
      ctx.refresh();
    } catch (err) {
      toast(err.message, 'error');
      approve.disabled = false;
    }
  }, 'btn btn-primary');
  const reject = button('不通过', async () => {
    const ok = await dialog({
      title: '不通过：' + n.family_name, danger: true, submitLabel: '确认不通过',
      fields: [{ name: 'reason', label: '原因（推荐人可见）', type: 'textarea', rows: 3 }],
      validate: undefined,
      onSubmit: (v) => post(`/nominations/${n.id}/review`, { decision: 'reject', reason: v.reason }),
      successMessage: '已退回',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-danger');
  return h('div', { class: 'review-item' },
    h('h3', null, n.family_name, ' ', badge(n.category_name || n.category, 'info'), ' ', badge(label(nominationStatuses, n.status), 'warn')),
    h('p', { class: 'story' }, n.story),
    photos.length ? h('div', { class: 'photos' }, photos.map((u) => h('a', { href: u, target: '_blank', rel: 'noopener' }, h('img', { src: u, alt: n.family_name + ' 的照片', loading: 'lazy' })))) : null,
    h('p', { class: 'muted small' }, '提交时间：' + time(n.created_at)),
    h('div', { class: 'row' }, approve, reject));
}

async function renderCampaign(main, ctx, id) {
  const box = h('div', null, loading());
  main.append(link('/campaigns', '← 返回活动列表'), box);
  try {
    const [c, integrity] = await Promise.all([
      get('/campaigns/' + encodeURIComponent(id)),
      get(`/campaigns/${encodeURIComponent(id)}/integrity`).catch((err) => ({ error: err })),
    ]);
    clear(box, h('h2', null, c.title), card('活动信息', h('dl', { class: 'kv' },
      h('dt', null, '阶段'), h('dd', null, label(phases, c.phase)),
      h('dt', null, '类别'), h('dd', null, categoriesOf(c)),
      h('dt', null, '推荐时间'), h('dd', null, `${time(c.nominate_from)} 至 ${time(c.nominate_to)}`),
      h('dt', null, '投票时间'), h('dd', null, `${time(c.vote_from)} 至 ${time(c.vote_to)}`),
      h('dt', null, '每人每天票数'), h('dd', null, num(c.votes_per_day)))),
    card('投票诚信', integrity.error ? errorBox(integrity.error) : integrityView(integrity)));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
  }
}

function integrityView(x) {
  const voided = x.voided_by_reason || {};
  return h('div', null,
    statCards([{ label: '有效票', value: num(x.valid ?? x.total_valid) }, { label: '总票数', value: num(x.total) },
      { label: '作废票', value: num(x.voided) }, { label: '异常标记', value: num((x.flags || []).length) }]),
    Object.keys(voided).length ? table([{ label: '作废原因', value: (r) => r[0] }, { label: '票数', value: (r) => num(r[1]), class: 'num' }], Object.entries(voided)) : null,
    (x.flags || []).length ? table([{ label: '异常', value: (f) => f.kind || f.type }, { label: '说明', value: (f) => f.detail || f.description || '' }], x.flags) : null,
    x.digest ? h('p', { class: 'small' }, '投票记录摘要（可随结果公布）：', h('code', null, x.digest)) : null);
}
