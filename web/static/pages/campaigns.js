// 最美家庭: campaigns (list, create, edit their windows, categories and vote
// limits), the review queue with photos and the machine checks, approve
// or reject with a reason (and take down an approved one), the integrity
// report, voiding votes, the ledger export, recounts and the winners
// (api/campaigns.go; role reviewer).
//
// Routes: /campaigns · /campaigns/review (?campaign_id=&status=) ·
// /campaigns/:id.
import { get, post, patch, download } from '../js/api.js';
import {
  h, clear, card, pageHeader, tabs, form, field, table, paged, link, loading, errorBox, button, action, dialog, badge, statCards,
  toast, safeURL,
} from '../js/ui.js';
import { time, num, label } from '../js/format.js';

const phases = {
  upcoming: '未开始', nominating: '推荐中', reviewing: '审核中', voting: '投票中', counting: '计票中', results: '已公布结果',
};
const nominationStatuses = { pending: '待审核', approved: '已通过', rejected: '未通过' };
const verdicts = {
  pending: ['机器检测中', 'info'], pass: ['机器检测通过', 'ok'], review: ['机器检测：建议人工细看', 'warn'], risky: ['机器检测不通过', 'err'],
};
const flagKinds = {
  burst_nomination: '同一推荐一分钟内得票过多', burst_ip: '同一网络地址一分钟内投票过多',
  fresh_accounts: '同一网络地址大量新账号投票', odd_hours: '票数集中在凌晨',
};
const winnerSources = { votes: '按得票', override: '人工调整' };

// defaultCategories are the federation's usual eight (the server's
// model.DefaultCampaignCategories), offered when creating a campaign.
const defaultCategories = [
  ['best_mother', '最美母亲'], ['green_family', '绿色家庭'], ['clean_family', '廉洁家庭'], ['harmonious_family', '和睦家庭'],
  ['reading_family', '书香家庭'], ['best_mother_in_law', '最美婆婆'], ['best_daughter_in_law', '最美媳妇'], ['best_children', '最美子女'],
].map(([code, name]) => ({ code, name, quota: 10 }));

export async function render(main, ctx) {
  const [first] = ctx.parts;
  const sec = first === 'review' ? 'review' : first ? 'detail' : 'list';
  main.append(pageHeader('最美家庭', '德润万家 · 最美家庭推荐、审核与投票'),
    tabs([{ label: '活动', path: '/campaigns', active: sec !== 'review' }, { label: '推荐审核', path: '/campaigns/review', active: sec === 'review' }]));
  if (sec === 'review') return renderReview(main, ctx);
  if (sec === 'detail') return renderCampaign(main, ctx, first);
  return renderList(main, ctx);
}

function categoryName(c, code) {
  const x = ((c && c.categories) || []).find((k) => k.code === code);
  return x ? x.name : code;
}

// --- campaign form ---

// categoryRows edits the categories as rows of code, name and quota; the
// server reports their problems under "categories", shown above the rows.
function categoryRows(cats) {
  const list = h('div');
  const wrap = h('div', { class: 'field full', dataset: { field: 'categories', skip: '' } },
    h('label', null, '评选类别'), h('p', { class: 'hint' }, '代码为小写字母开头的字母、数字或下划线（如 best_mother），创建后不宜修改；名额为当选家庭数。'),
    h('p', { class: 'field-error' }), list);
  const add = (c = {}) => {
    const row = h('div', { class: 'form-grid category-row' },
      field({ name: 'cat.code', label: '代码', value: c.code, placeholder: 'best_mother' }),
      field({ name: 'cat.name', label: '名称', value: c.name, placeholder: '最美母亲' }),
      field({ name: 'cat.quota', label: '名额', type: 'number', min: 0, value: c.quota ?? 10 }));
    for (const f of row.querySelectorAll('.field')) f.dataset.skip = '';
    row.append(button('删除', () => row.remove(), 'btn btn-small btn-ghost'));
    list.append(row);
  };
  cats.forEach(add);
  wrap.append(button('添加类别', () => add(), 'btn btn-small add-category'));
  return wrap;
}

function readCategories(root) {
  return [...root.querySelectorAll('.category-row')].map((row) => {
    const v = (n) => row.querySelector(`[data-field="cat.${n}"] input`).value.trim();
    return { code: v('code'), name: v('name'), quota: Number(v('quota')) || 0 };
  }).filter((c) => c.code || c.name);
}

function campaignFields(c) {
  return [
    { name: 'title', label: '活动名称', value: c.title, full: true, required: true, maxlength: 64 },
    { name: 'description', label: '活动说明', type: 'textarea', rows: 3, value: c.description },
    { name: 'nominate_from', label: '推荐开始', type: 'datetime', value: c.nominate_from, required: true },
    { name: 'nominate_to', label: '推荐截止', type: 'datetime', value: c.nominate_to, required: true },
    { name: 'review_from', label: '审核开始', type: 'datetime', value: c.review_from, hint: '留空为推荐开始' },
    { name: 'review_to', label: '审核截止', type: 'datetime', value: c.review_to, hint: '留空为投票截止' },
    { name: 'vote_from', label: '投票开始', type: 'datetime', value: c.vote_from, required: true },
    { name: 'vote_to', label: '投票截止', type: 'datetime', value: c.vote_to, required: true },
    { name: 'results_at', label: '公布结果', type: 'datetime', value: c.results_at, hint: '留空为投票截止' },
    { name: 'votes_per_day', label: '每人每天票数', type: 'number', min: 1, max: 50, value: c.votes_per_day ?? 3 },
    { name: 'per_nomination_daily', label: '每人每天给同一家庭的票数', type: 'number', min: 1, max: 10, value: c.per_nomination_daily ?? 1 },
    categoryRows(c.categories && c.categories.length ? c.categories : defaultCategories),
  ];
}

// campaignBody is the request body; empty optional times are left out (the
// server fills them).
function campaignBody(v, root) {
  const body = { title: v.title, description: v.description, votes_per_day: v.votes_per_day, per_nomination_daily: v.per_nomination_daily,
    categories: readCategories(root) };
  for (const k of ['nominate_from', 'nominate_to', 'review_from', 'review_to', 'vote_from', 'vote_to', 'results_at']) {
    if (v[k]) body[k] = v[k];
  }
  return body;
}

async function renderList(main, ctx) {
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: campaignFields({}),
    names: { categories: '评选类别' },
    submitLabel: '创建活动',
    onSubmit: (v) => post('/campaigns', campaignBody(v, f.el)),
    successMessage: '活动已创建',
    onSuccess: (c) => ctx.navigate('/campaigns/' + c.id),
  });
  createBox.append(card('新建活动', f.el));
  const list = h('div', null, loading());
  main.append(h('div', { class: 'actions' }, button('新建活动', () => {
    createBox.hidden = !createBox.hidden;
    if (!createBox.hidden) createBox.querySelector('input').focus();
  }, 'btn btn-primary new-campaign')), h('p'), createBox, card('全部活动', list));
  try {
    const res = await get('/campaigns');
    clear(list, table([
      { label: '活动', value: (c) => link('/campaigns/' + c.id, c.title) },
      { label: '阶段', value: (c) => badge(label(phases, c.phase), c.phase === 'voting' || c.phase === 'nominating' ? 'ok' : 'info') },
      { label: '类别', value: (c) => `${(c.categories || []).length} 个` },
      { label: '推荐', value: (c) => `${time(c.nominate_from)} 至 ${time(c.nominate_to)}`, class: 'nowrap' },
      { label: '投票', value: (c) => `${time(c.vote_from)} 至 ${time(c.vote_to)}`, class: 'nowrap' },
      { label: '', value: (c) => link('/campaigns/review?campaign_id=' + c.id, '审核推荐') },
    ], res.items, '还没有活动。点击“新建活动”开始。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

// --- review ---

async function renderReview(main, ctx) {
  const q = ctx.query;
  const status = q.get('status') || 'pending';
  const campaignID = q.get('campaign_id') || '';
  let camps = [];
  try {
    camps = (await get('/campaigns')).items || [];
  } catch (err) {
    main.append(errorBox(err, () => ctx.refresh()));
    return;
  }
  const byID = new Map(camps.map((c) => [String(c.id), c]));
  const filters = form({
    class: 'inline-form filter-form',
    fields: [
      { name: 'campaign_id', label: '活动', type: 'select', options: [['', '全部活动'], ...camps.map((c) => [String(c.id), c.title])], value: campaignID },
      { name: 'status', label: '状态', type: 'select', options: Object.entries(nominationStatuses), value: status },
    ],
    submitLabel: '筛选',
    onSubmit: async (v) => ctx.navigate('/campaigns/review?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x))),
  });
  const box = h('div');
  main.append(card(null, filters.el),
    card(status === 'pending' ? '待审核的推荐' : label(nominationStatuses, status) + '的推荐',
      h('p', { class: 'muted small' }, status === 'pending'
        ? '先看机器检测结果，再看照片和事迹。通过后在小程序公开展示；不通过须写明原因，推荐人会收到通知。'
        : status === 'approved' ? '已公开展示的推荐；发现问题可撤下（推荐人会收到通知）。' : '未通过的推荐，不能再改。'), box));
  clear(box, paged([{ label: '', value: (n) => reviewItem(n, byID.get(String(n.campaign_id)), ctx) }],
    (cursor) => get('/nominations', { status, campaign_id: campaignID, cursor, limit: 20 }),
    status === 'pending' ? '没有待审核的推荐。' : '没有推荐。'));
}

function reviewItem(n, camp, ctx) {
  const photos = (n.photo_checks && n.photo_checks.length ? n.photo_checks : (n.photos || []).map((url) => ({ url })))
    .map((p) => ({ ...p, url: safeURL(p.url) })).filter((p) => p.url);
  const [vText, vKind] = verdicts[n.machine_verdict] || [n.machine_verdict || '', ''];
  const buttons = [];
  if (n.status === 'pending') {
    const approve = button('通过', async () => {
      if (await action(approve, () => post(`/nominations/${n.id}/review`, { decision: 'approve' }), '已通过，推荐已公开展示') !== undefined) {
        ctx.refresh();
      }
    }, 'btn btn-primary approve');
    if (n.machine_verdict === 'pending' || n.machine_verdict === 'risky') {
      approve.disabled = true;
      approve.title = n.machine_verdict === 'pending' ? '图片安全检测尚未完成' : '未通过机器检测，不能通过';
    }
    buttons.push(approve);
  }
  if (n.status !== 'rejected') buttons.push(rejectButton(n, ctx));
  return h('article', { class: 'review-item', dataset: { id: String(n.id) } },
    h('h3', null, n.family_name, ' ', badge(categoryName(camp, n.category), 'info'), ' ',
      badge(label(nominationStatuses, n.status), n.status === 'approved' ? 'ok' : n.status === 'rejected' ? 'err' : 'warn'), ' ',
      n.status === 'pending' ? badge(vText, vKind) : null),
    camp ? h('p', { class: 'muted small' }, camp.title) : null,
    h('p', { class: 'story' }, n.story),
    photos.length ? h('div', { class: 'photos' }, photos.map((p, i) => h('figure', { class: 'photo' },
      h('a', { href: p.url, target: '_blank', rel: 'noopener noreferrer' }, h('img', { src: p.url, alt: `${n.family_name}的照片 ${i + 1}`, loading: 'lazy' })),
      p.suggest !== undefined ? h('figcaption', null, p.suggest ? (verdicts[p.suggest] || [p.suggest])[0] : '检测中') : null))) : null,
    n.reject_reason ? h('p', { class: 'small' }, '不通过原因：', n.reject_reason) : null,
    h('p', { class: 'muted small' }, `推荐编号 #${n.id} · 提交于 ${time(n.created_at)}` + (n.reviewed_at ? ` · 审核于 ${time(n.reviewed_at)}` : '') +
      (n.status === 'approved' ? ` · ${num(n.votes)} 票` : '')),
    buttons.length ? h('div', { class: 'row' }, buttons) : null);
}

function rejectButton(n, ctx) {
  const takeDown = n.status === 'approved';
  return button(takeDown ? '撤下' : '不通过', async () => {
    const ok = await dialog({
      title: (takeDown ? '撤下：' : '不通过：') + n.family_name, danger: true, submitLabel: takeDown ? '确认撤下' : '确认不通过',
      message: takeDown ? '撤下后不再公开展示，推荐人会收到通知。' : '推荐人会收到通知和原因。',
      fields: [{ name: 'reason', label: '原因（推荐人可见）', type: 'textarea', rows: 3, required: true }],
      validate: (v) => (v.reason.trim() ? null : { reason: '请写明原因' }),
      onSubmit: (v) => post(`/nominations/${n.id}/review`, { decision: 'reject', reason: v.reason.trim() }),
      successMessage: takeDown ? '已撤下' : '已标为不通过',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-danger reject');
}

// --- one campaign ---

async function renderCampaign(main, ctx, id) {
  const box = h('div', null, loading());
  main.append(link('/campaigns', '← 返回活动列表'), box);
  const path = '/campaigns/' + encodeURIComponent(id);
  let c;
  try {
    c = await get(path);
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const edit = button('编辑活动', async () => {
    const p = dialog({
      title: '编辑活动', fields: campaignFields(c), submitLabel: '保存', names: { categories: '评选类别' },
      onSubmit: (v) => patch(path, campaignBody(v, document.querySelector('dialog[open] form'))), successMessage: '活动已保存',
    });
    if (await p) ctx.refresh();
  }, 'btn edit-campaign');
  const integrity = h('div', null, loading());
  const nominations = h('div', null, loading());
  const winners = h('div', null, loading());
  clear(box,
    pageHeader(c.title, `${label(phases, c.phase)} · ${(c.categories || []).length} 个类别`, edit,
      link('/campaigns/review?campaign_id=' + c.id, '审核推荐', 'btn btn-primary')),
    h('div', { class: 'grid-2' },
      card('时间安排', h('dl', { class: 'kv' },
        h('dt', null, '推荐'), h('dd', null, `${time(c.nominate_from)} 至 ${time(c.nominate_to)}`),
        h('dt', null, '审核'), h('dd', null, `${time(c.review_from)} 至 ${time(c.review_to)}`),
        h('dt', null, '投票'), h('dd', null, `${time(c.vote_from)} 至 ${time(c.vote_to)}`),
        h('dt', null, '公布结果'), h('dd', null, time(c.results_at)),
        h('dt', null, '投票限制'), h('dd', null, `每人每天 ${c.votes_per_day} 票，同一家庭每天最多 ${c.per_nomination_daily} 票`)),
      c.description ? h('p', { class: 'story muted small' }, c.description) : null),
      card('评选类别', h('ul', { class: 'category-list' }, (c.categories || []).map((x) =>
        h('li', { title: x.code }, x.name, h('span', { class: 'muted small' }, ` 名额 ${num(x.quota)}`)))))),
    card('投票诚信', integrity),
    card('已公开的推荐', nominations),
    card('评选结果', winners));

  loadIntegrity();
  loadNominations();
  loadWinners();

  async function loadIntegrity() {
    try {
      const x = await get(path + '/integrity');
      const t = x.totals || {};
      const voided = Object.entries(x.voided_by_reason || {});
      const ledger = button('导出投票记录（CSV）', () => action(ledger, () => download(path + '/ledger', {}, `campaign-${c.id}-ledger.csv`), '已开始下载'), 'btn btn-small');
      const recount = button('按记录重新计票', async () => {
        if (await action(recount, () => post(path + '/recount'), '已按投票记录重新计票') !== undefined) ctx.refresh();
      }, 'btn btn-small');
      clear(integrity,
        statCards([
          { label: '总票数', value: num(t.total) }, { label: '有效票', value: num(t.valid) },
          { label: '作废票', value: num(t.voided) }, { label: '投票人数', value: num(t.voters) },
          { label: '异常提示', value: num((x.flags || []).length) },
        ]),
        voided.length ? [h('h3', null, '作废原因'), table([
          { label: '原因', value: (r) => r[0] }, { label: '票数', value: (r) => num(r[1]), class: 'num' },
        ], voided)] : null,
        h('h3', null, '异常提示'),
        table([
          { label: '类型', value: (f) => label(flagKinds, f.kind) },
          { label: '推荐', value: (f) => (f.nomination_id ? '#' + f.nomination_id : '—') },
          { label: '时间', value: (f) => (f.minute ? time(f.minute) : '—'), class: 'nowrap' },
          { label: '说明', value: (f) => f.detail },
        ], x.flags || [], '没有发现异常。'),
        x.digest ? h('p', { class: 'small', title: x.digest.definition }, `投票记录摘要（${x.digest.algorithm}，${num(x.digest.rows)} 条）：`,
          h('code', { class: 'hash' }, x.digest.value), h('br'),
          h('span', { class: 'muted' }, '即“导出投票记录”所得 CSV 文件的 SHA-256，任何人可据此核对记录未被改动。')) : null,
        x.results_fixed_at ? h('p', { class: 'small' }, `结果确定于 ${time(x.results_fixed_at)}，当时的摘要：`, h('code', { class: 'hash' }, x.results_digest)) : null,
        h('div', { class: 'row' }, ledger, recount, voidButton(c, path, ctx)));
    } catch (err) {
      clear(integrity, errorBox(err, loadIntegrity));
    }
  }

  async function loadNominations() {
    clear(nominations, paged([
      { label: '编号', value: (n) => '#' + n.id },
      { label: '家庭', value: (n) => n.family_name },
      { label: '类别', value: (n) => categoryName(c, n.category) },
      { label: '得票', value: (n) => num(n.votes), class: 'num' },
      { label: '审核时间', value: (n) => time(n.reviewed_at), class: 'nowrap' },
    ], (cursor) => get('/nominations', { status: 'approved', campaign_id: c.id, cursor, limit: 50 }), '还没有公开的推荐。'));
  }

  async function loadWinners() {
    try {
      const r = await get(path + '/winners', { all: 'true' });
      const items = r.items || [];
      const override = button('调整某类别的当选家庭', () => overrideWinners(c, path, ctx), 'btn btn-small');
      clear(winners,
        c.results_fixed_at ? null : h('p', { class: 'muted' }, '投票截止后系统按得票确定当选家庭；之后可人工调整（须写明原因）。'),
        table([
          { label: '类别', value: (w) => categoryName(c, w.category) },
          { label: '名次', value: (w) => String(w.rank), class: 'num' },
          { label: '家庭', value: (w) => `${w.family_name}（#${w.nomination_id}）` },
          { label: '得票', value: (w) => num(w.votes), class: 'num' },
          { label: '方式', value: (w) => label(winnerSources, w.source) + (w.reason ? '：' + w.reason : '') },
          { label: '状态', value: (w) => (w.replaced_at ? badge('已被替换 ' + time(w.replaced_at)) : badge('当选', 'ok')) },
        ], items, '还没有评选结果。'),
        c.results_fixed_at ? h('p', null, override) : null);
    } catch (err) {
      clear(winners, errorBox(err, loadWinners));
    }
  }
}

function voidButton(c, path, ctx) {
  return button('作废投票', async () => {
    const r = await dialog({
      title: '作废投票', danger: true, submitLabel: '作废',
      message: '按投票人、推荐或时间范围作废投票（至少填一项）。投票记录会保留并标记作废原因；结果确定后不能再作废。',
      fields: [
        { name: 'voter_id', label: '投票人编号', type: 'number', min: 1 },
        { name: 'nomination_id', label: '推荐编号', type: 'number', min: 1 },
        { name: 'from', label: '从', type: 'datetime' },
        { name: 'to', label: '至', type: 'datetime' },
        { name: 'reason', label: '原因', type: 'textarea', rows: 2, required: true },
      ],
      validate: (v) => (v.reason.trim() ? null : { reason: '请写明原因' }),
      onSubmit: (v) => {
        const body = { reason: v.reason.trim() };
        if (v.voter_id) body.voter_id = v.voter_id;
        if (v.nomination_id) body.nomination_id = v.nomination_id;
        if (v.from) body.from = v.from;
        if (v.to) body.to = v.to;
        return post(path + '/voids', body);
      },
    });
    if (r) {
      toast(`已作废 ${num(r.voided)} 票`);
      ctx.refresh();
    }
  }, 'btn btn-small btn-danger void-votes');
}

async function overrideWinners(c, path, ctx) {
  const ok = await dialog({
    title: '调整当选家庭', submitLabel: '保存',
    message: '所选类别的当选家庭将被替换为下面的推荐（按顺序为名次）；原记录会保留。',
    fields: [
      { name: 'category', label: '类别', type: 'select', options: (c.categories || []).map((x) => [x.code, x.name]) },
      { name: 'nomination_ids', label: '推荐编号', placeholder: '如 12, 15, 18', hint: '本类别已公开的推荐，用逗号分隔' },
      { name: 'reason', label: '原因', type: 'textarea', rows: 2, required: true },
    ],
    validate: (v) => {
      const bad = {};
      if (!/^\s*\d+(\s*[,，、]\s*\d+)*\s*$/.test(v.nomination_ids)) bad.nomination_ids = '请填写推荐编号，用逗号分隔';
      if (!v.reason.trim()) bad.reason = '请写明原因';
      return Object.keys(bad).length ? bad : null;
    },
    onSubmit: (v) => post(path + '/winners', {
      category: v.category, reason: v.reason.trim(), nomination_ids: v.nomination_ids.split(/[,，、]/).map((x) => Number(x.trim())),
    }),
    successMessage: '当选家庭已调整',
  });
  if (ok) ctx.refresh();
}
