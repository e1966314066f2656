// 12338: the case queue by status and by SLA (overdue first), hotline and
// walk-in intake, a case's page (masked contact data with a logged reveal,
// routing and assignment, transitions with the outcome on closure, the
// category corrected with a reason, internal notes kept apart from the
// messages she sees, the event chain check, the access log), the service
// stations and the working calendar the SLA runs on (holidays and make-up
// working days, edited by admins) (api/cases.go; role caseworker, who sees
// her own station's cases only: the server answers 404 for others, shown
// as "not found" with nothing of the case).
//
// Routes: /cases (?status=&view=sla) · /cases/new · /cases/stations ·
// /cases/calendar · /cases/:case_no.
import { get, post, put, patch, del, ApiError } from '../js/api.js';
import {
  h, clear, card, pageHeader, tabs, form, table, paged, link, loading, errorBox, button, action, badge, dialog, toast,
} from '../js/ui.js';
import { hasRole } from '../js/session.js';
import {
  time, num, label, caseCategories, caseStatusNames, caseOutcomes, caseChannels, contactModes, stationKinds,
} from '../js/format.js';

export async function render(main, ctx) {
  const [first] = ctx.parts;
  if (first === 'new') return renderIntake(main, ctx);
  if (first === 'stations') return renderStations(main, ctx);
  if (first === 'calendar') return renderCalendar(main, ctx);
  if (first) return renderCase(main, ctx, first);
  return renderQueue(main, ctx);
}

// stationNames loads the stations once per page for their names (a
// caseworker may read them; a failure just shows numbers).
async function stationMap() {
  try {
    const r = await get('/stations');
    return new Map((r.items || []).map((s) => [s.id, s]));
  } catch {
    return new Map();
  }
}

function stationName(stations, id) {
  if (!id) return '未分派';
  const s = stations.get(id);
  return s ? s.name : '服务站 #' + id;
}

// --- SLA ---

// sla describes a case's clock: which deadline runs next, whether it is
// overdue, and whether the clock runs at all (it stops once resolved or
// closed, and pauses while waiting for her).
export function sla(c, now = Date.now()) {
  const running = c.status !== 'resolved' && c.status !== 'closed' && !c.waiting_user;
  const firstOpen = !c.first_response_at;
  const firstDue = Date.parse(c.first_response_due);
  const closeDue = Date.parse(c.close_due);
  const firstLate = c.first_response_overdue || (running && firstOpen && firstDue < now);
  const closeLate = c.close_overdue || (running && closeDue < now);
  const next = firstOpen ? firstDue : closeDue;
  return { running, overdue: !!(firstLate || closeLate), firstLate: !!firstLate, closeLate: !!closeLate, next, which: firstOpen ? '首次响应' : '结案' };
}

function slaBadge(c) {
  if (c.status === 'closed') return h('span', { class: 'muted small' }, '已结案');
  const s = sla(c);
  if (s.overdue) return badge((s.firstLate ? '首次响应' : '结案') + '已超时', 'err');
  if (c.waiting_user) return badge('等待求助人 · 暂停计时', 'info');
  if (!s.running) return h('span', { class: 'muted small' }, '已解决');
  if (Number.isNaN(s.next)) return '—';
  const left = s.next - Date.now();
  if (left < 24 * 3600e3) return badge(`${s.which} ${Math.max(1, Math.ceil(left / 3600e3))} 小时内到期`, 'warn');
  return h('span', { class: 'small muted' }, `${s.which}期限 ${time(new Date(s.next).toISOString())}`);
}

// slaNow is the clock's state on the case page, beside the deadlines
// already shown: overdue, due within a day, paused or stopped.
function slaNow(c) {
  if (c.status === 'closed') return badge('已结案，停止计时');
  const s = sla(c);
  if (s.overdue) return badge((s.firstLate ? '首次响应' : '结案') + '已超时', 'err');
  if (c.waiting_user) return badge('等待求助人 · 暂停计时', 'info');
  if (!s.running) return badge('已解决，停止计时');
  const left = s.next - Date.now();
  if (left < 24 * 3600e3) return badge(`${s.which} ${Math.max(1, Math.ceil(left / 3600e3))} 小时内到期`, 'warn');
  return badge('计时中', 'ok');
}

// urgency orders the SLA queue: overdue first (longest overdue first),
// then running clocks by the nearest deadline, then paused or resolved
// cases.
function urgency(c, now) {
  const s = sla(c, now);
  if (s.overdue) return [0, s.next || 0];
  if (s.running) return [1, s.next || 0];
  return [2, Date.parse(c.received_at) || 0];
}

// slaOrder sorts cases for the SLA queue (a copy; exported for the
// browser test of the order).
export function slaOrder(items, now = Date.now()) {
  return [...items].sort((a, b) => {
    const [ka, ta] = urgency(a, now);
    const [kb, tb] = urgency(b, now);
    return ka - kb || ta - tb;
  });
}

function statusCell(c) {
  return h('span', { class: 'row' }, badge(label(caseStatusNames, c.status) || c.status_name, c.status === 'closed' ? '' : 'info'),
    c.danger ? badge('紧急', 'err') : null, c.anonymised ? badge('已匿名化') : null);
}

function queueColumns(stations) {
  return [
    { label: '编号', value: (c) => link('/cases/' + encodeURIComponent(c.case_no), c.case_no), class: 'nowrap' },
    { label: '类别', value: (c) => c.category_name || label(caseCategories, c.category) },
    { label: '状态', value: statusCell },
    { label: '求助人', value: (c) => (c.anonymous ? '匿名' : c.name || '—') },
    { label: '电话', value: (c) => c.phone || '—', class: 'nowrap' },
    { label: '服务站', value: (c) => stationName(stations, c.station_id) },
    { label: '渠道', value: (c) => label(caseChannels, c.channel) },
    { label: '接收时间', value: (c) => time(c.received_at), class: 'nowrap' },
    { label: '时限', value: slaBadge },
  ];
}

// maxSLAQueue bounds the open cases read for the SLA view (sorted here:
// the list API pages newest first).
const maxSLAQueue = 500;

async function renderQueue(main, ctx) {
  const q = ctx.query;
  const view = q.get('view') || (q.get('status') ? 'status' : 'sla');
  const status = q.get('status') || '';
  const admin = hasRole(['admin']);
  main.append(pageHeader('12338', '妇女维权求助：受理、分派与办理。联系方式默认脱敏显示，查看完整信息会记入访问日志。',
    link('/cases/new', '登记来电/来访', 'btn btn-primary intake-link'),
    link('/cases/stations', admin ? '服务站管理' : '服务站', 'btn'),
    link('/cases/calendar', '工作日历', 'btn calendar-link')),
  tabs([
    { label: '待办（按时限）', path: '/cases', active: view === 'sla' },
    { label: '全部', path: '/cases?view=all', active: view === 'all' },
    ...Object.entries(caseStatusNames).map(([k, v]) => ({ label: v, path: '/cases?status=' + k, active: status === k })),
  ]));
  const filters = form({
    class: 'inline-form filter-form',
    fields: [
      { name: 'category', label: '类别', type: 'select', options: [['', '全部类别'], ...Object.entries(caseCategories)], value: q.get('category') || '' },
      { name: 'danger', label: '只看紧急', type: 'checkbox', value: q.get('danger') === 'true' },
      { name: 'waiting', label: '只看等待求助人', type: 'checkbox', value: q.get('waiting') === 'true' },
    ],
    submitLabel: '筛选',
    onSubmit: async (v) => {
      const p = new URLSearchParams();
      if (view === 'all') p.set('view', 'all');
      if (status) p.set('status', status);
      if (v.category) p.set('category', v.category);
      if (v.danger) p.set('danger', 'true');
      if (v.waiting) p.set('waiting', 'true');
      ctx.navigate('/cases' + (p.toString() ? '?' + p : ''));
    },
  });
  const box = h('div', null, loading());
  main.append(card(null, filters.el), box);
  const query = {
    category: q.get('category') || '', danger: q.get('danger') === 'true' ? 'true' : '', waiting: q.get('waiting') === 'true' ? 'true' : '',
  };
  const stations = await stationMap();
  const columns = queueColumns(stations);
  if (view !== 'sla') {
    clear(box, card(null, paged(columns, (cursor) => get('/cases', { ...query, status, cursor, limit: 50 }),
      '没有符合条件的案件。')));
    return;
  }
  try {
    const items = [];
    let cursor = '';
    do {
      const res = await get('/cases', { ...query, open: 'true', cursor, limit: 100 });
      items.push(...(res.items || []));
      cursor = res.next_cursor || '';
    } while (cursor && items.length < maxSLAQueue);
    const sorted = slaOrder(items);
    const late = items.filter((c) => sla(c).overdue).length;
    clear(box, card(`未结案件 ${num(items.length)} 件` + (late ? `，其中 ${late} 件已超时` : ''),
      h('p', { class: 'muted small' }, '已超时的排在最前，其余按最近的期限排序；暂停计时和已解决的排在最后。'),
      cursor ? h('div', { class: 'notice', role: 'status' }, `未结案件超过 ${maxSLAQueue} 件，这里只排序了最新的 ${items.length} 件；请用类别筛选或“全部”查看其余案件。`) : null,
      table(columns, sorted, '没有未结的案件。')));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
  }
}

// --- intake ---

function contactFields(prefix = 'contact.') {
  return [
    { name: prefix + 'mode', label: '联系偏好', type: 'select', options: Object.entries(contactModes), value: 'any' },
    { name: prefix + 'from', label: '可联系时段：从', type: 'time', hint: '仅“只在指定时段联系”时填写' },
    { name: prefix + 'to', label: '至', type: 'time' },
    { name: prefix + 'note', label: '安全联系说明', placeholder: '如：只可发短信，不要打电话' },
  ];
}

function contactBody(v) {
  const mode = v['contact.mode'];
  const c = { mode, note: v['contact.note'] };
  if (mode === 'window') {
    c.from = v['contact.from'];
    c.to = v['contact.to'];
  }
  return c;
}

function renderIntake(main, ctx) {
  const f = form({
    fields: [
      { name: 'channel', label: '来源', type: 'select', options: [['hotline', '12338 热线来电'], ['walk_in', '来访']], value: 'hotline' },
      { name: 'category', label: '求助类别', type: 'select', options: [['', '请选择'], ...Object.entries(caseCategories)] },
      { name: 'district', label: '所在区县', placeholder: '如 城关区' },
      { name: 'description', label: '求助内容', type: 'textarea', rows: 6, required: true, hint: '记录求助人陈述的主要情况和诉求' },
      { name: 'anonymous', label: '求助人要求匿名', type: 'checkbox' },
      { name: 'name', label: '称呼', hint: '匿名时可不填' },
      { name: 'phone', label: '联系电话', inputmode: 'tel', hint: '匿名时可不填' },
      { name: 'danger', label: '求助人目前处于危险中（立即提醒值班人员）', type: 'checkbox', full: true },
      ...contactFields(),
    ],
    names: { 'contact.mode': '联系偏好', 'contact.from': '可联系时段', 'contact.note': '安全联系说明' },
    submitLabel: '登记案件',
    onSubmit: (v) => post('/cases', {
      channel: v.channel, category: v.category, district: v.district.trim(), description: v.description, anonymous: v.anonymous,
      name: v.name.trim(), phone: v.phone.trim(), danger: v.danger, contact: contactBody(v),
    }),
    onSuccess: (r) => {
      toast(`已登记案件 ${r.case_no}` + (r.emergency ? '，已提醒值班人员' : ''));
      ctx.navigate('/cases/' + encodeURIComponent(r.case_no));
    },
  });
  const sync = () => {
    const win = f.el.querySelector('[data-field="contact.mode"] select').value === 'window';
    for (const n of ['contact.from', 'contact.to']) f.el.querySelector(`[data-field="${n}"]`).hidden = !win;
  };
  f.el.addEventListener('change', sync);
  sync();
  main.append(link('/cases', '← 返回案件列表'),
    pageHeader('登记来电/来访', '热线来电或来访求助登记为案件；维权专员登记的案件直接归入本服务站。'),
    card(null, h('p', { class: 'muted small' }, '求助人的姓名、电话和求助内容会加密保存，列表中脱敏显示。'), f.el));
  f.el.querySelector('select').focus();
}

// --- a case ---

const eventKinds = {
  intake: '登记', status: '状态变更', assign: '分派', note: '内部备注', reply: '回复求助人', message: '求助人留言',
  contact: '联系记录', waiting: '等待求助人', feedback: '求助人评价', contact_prefs: '联系偏好', sla: '时限', anonymised: '匿名化',
  category: '类别更正',
};
const contactChannels = { phone: '电话', visit: '面谈/走访', other: '其他' };
const directions = { inbound: '求助人主动联系', outbound: '我们联系求助人' };

function actor(e) {
  if (e.actor_kind === 'owner') return '求助人';
  if (e.actor_kind === 'system') return '系统';
  return e.actor_id ? '工作人员 #' + e.actor_id : '工作人员';
}

// eventLine describes an internal-record event in one line.
function eventLine(e, stations) {
  const m = e.meta || {};
  switch (e.kind) {
    case 'intake': return `登记（${label(caseChannels, m.channel) || m.channel || ''}）`;
    case 'status': return `状态：${label(caseStatusNames, e.from_status)} → ${label(caseStatusNames, e.to_status)}` +
      (m.outcome ? `，处理结果：${label(caseOutcomes, m.outcome)}` : '');
    case 'assign': return `分派到 ${stationName(stations, e.station_id)}` + (m.from_station && m.from_station !== '0' ? `（转自 ${stationName(stations, Number(m.from_station))}）` : '');
    case 'contact': return `联系记录：${label(contactChannels, m.channel)}，${label(directions, m.direction)}`;
    case 'waiting': return m.waiting === 'true' ? '暂停计时：等待求助人回复' : '恢复计时';
    case 'sla': return `${m.sla === 'first_response' ? '首次响应' : '结案'}时限${m.step === 'breached' ? '已超时' : '即将到期提醒'}`;
    case 'contact_prefs': return '求助人修改了联系偏好';
    case 'anonymised': return '已按保存期限清除个人信息';
    case 'category': return `类别更正：${label(caseCategories, m.from) || m.from} → ${label(caseCategories, m.to) || m.to}`;
    case 'note': return '内部备注';
    default: return eventKinds[e.kind] || e.kind;
  }
}

const herKinds = new Set(['reply', 'message', 'feedback']);

// accessFields names what a read showed (the access log's "fields").
const accessFields = {
  description: '求助内容', contact: '联系偏好', messages: '往来消息', notes: '内部记录', feedback: '评价', name: '姓名', phone: '电话',
};

async function renderCase(main, ctx, caseNo) {
  const path = '/cases/' + encodeURIComponent(caseNo);
  const box = h('div', null, loading());
  main.append(link('/cases', '← 返回案件列表'), box);
  let c;
  try {
    c = await get(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      document.title = '案件不存在 · 万家工作台';
      clear(box, h('div', { class: 'notice notice-error case-404', role: 'alert' }, h('strong', null, '找不到该案件'),
        h('p', null, '案件编号不存在，或该案件不在您的服务范围内。')));
      return;
    }
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const stations = await stationMap();
  const refreshAccess = () => loadAccess();
  const closed = c.status === 'closed';

  // contact data: masked; the full name and phone for a stated reason.
  const contactBox = h('div');
  const showMasked = () => clear(contactBox, h('dl', { class: 'kv' },
    h('dt', null, '称呼'), h('dd', null, c.anonymous ? '匿名' : c.name || '—'),
    h('dt', null, '电话'), h('dd', null, c.phone || '—')));
  showMasked();
  const reveal = button('查看完整联系方式', async () => {
    const r = await dialog({
      title: '查看完整联系方式', message: '完整的姓名和电话只在确有需要时查看。请写明原因，查看记录（人员、时间、原因）会写入本案的访问日志。',
      submitLabel: '查看', fields: [{ name: 'reason', label: '查看原因', placeholder: '如：电话回访求助人，确认庇护需求', required: true }],
      validate: (v) => (v.reason.trim() ? null : { reason: '请写明查看原因' }),
      onSubmit: (v) => post(path + '/reveal', { reason: v.reason.trim() }),
    });
    if (!r) return;
    clear(contactBox, h('div', { class: 'revealed', role: 'status' }, h('dl', { class: 'kv' },
      h('dt', null, '姓名'), h('dd', { class: 'revealed-name' }, r.name || '—'),
      h('dt', null, '电话'), h('dd', { class: 'revealed-phone' }, r.phone || '—')),
    h('p', { class: 'small muted' }, '已记入访问日志。'), button('隐藏', showMasked, 'btn btn-small')));
    refreshAccess();
  }, 'btn btn-small reveal');
  const prefs = c.contact || {};

  // handling: assignment with the route suggestion, transitions, waiting.
  const assignBox = h('div');
  const transitionBox = h('div');
  const internal = h('div');
  const thread = h('div');
  const verifyBox = h('div', null, loading('正在校验…'));
  const access = h('div');

  clear(box,
    pageHeader('案件 ' + c.case_no, `${c.category_name || label(caseCategories, c.category)} · ${label(caseStatusNames, c.status)} · ${label(caseChannels, c.channel)}`),
    c.danger ? h('div', { class: 'notice notice-error', role: 'alert' }, h('strong', null, '紧急：求助人表示处于危险中'),
      h('p', null, '请立即联系，必要时协助报警（110）或申请人身安全保护令。')) : null,
    c.anonymised ? h('div', { class: 'notice', role: 'status' }, '本案已按保存期限清除个人信息。') : null,
    h('div', { class: 'grid-2' },
      card('求助内容', h('p', { class: 'story' }, c.description || '—'),
        h('dl', { class: 'kv small' },
          h('dt', null, '类别'), h('dd', null, c.category_name || label(caseCategories, c.category),
            closed || c.anonymised ? null : [' ', categoryButton(c, path, ctx)]),
          h('dt', null, '接收时间'), h('dd', null, time(c.received_at)),
          h('dt', null, '区县'), h('dd', null, c.district || '—'),
          h('dt', null, '服务站'), h('dd', null, c.station ? c.station.name : stationName(stations, c.station_id)),
          closed ? [h('dt', null, '处理结果'), h('dd', null, label(caseOutcomes, c.outcome) || '—')] : null,
          c.rating ? [h('dt', null, '求助人评价'), h('dd', null, '★'.repeat(c.rating) + (c.feedback ? ' ' + c.feedback : ''))] : null)),
      card('联系方式', contactBox, h('dl', { class: 'kv small' },
        h('dt', null, '联系偏好'), h('dd', null, label(contactModes, prefs.mode) || '—',
          prefs.mode === 'window' ? `（${prefs.from}–${prefs.to}）` : ''),
        prefs.note ? [h('dt', null, '说明'), h('dd', null, prefs.note)] : null),
      c.anonymised ? null : reveal)),
    card('时限', h('div', { class: 'sla-line' },
      h('span', null, '首次响应期限：', time(c.first_response_due) || '—',
        c.first_response_at ? `（已于 ${time(c.first_response_at)} 响应）` : '', c.first_response_overdue ? badge('曾超时', 'err') : null),
      h('span', null, '结案期限：', time(c.close_due) || '—', c.close_overdue ? badge('已超时', 'err') : null),
      slaNow(c)), closed || c.anonymised ? null : waitingButton(c, path, ctx)),
    closed || c.anonymised ? null : h('div', { class: 'grid-2' }, card('分派', assignBox), card('办理', transitionBox)),
    closed && !c.anonymised ? card('办理', transitionBox) : null,
    h('div', { class: 'split-2' },
      h('section', { class: 'card internal-card' }, h('h2', null, '内部记录'),
        h('p', { class: 'card-note' }, '求助人看不到这里的内容。'), internal),
      h('section', { class: 'card her-card' }, h('h2', null, '与求助人的沟通'),
        h('p', { class: 'card-note' }, '这里的消息求助人会在小程序中看到；通知使用中性措辞，不显示案件类别。'), thread)),
    card('事件链校验', verifyBox),
    card('访问日志', h('p', { class: 'muted small' }, '每一次打开本案和查看完整联系方式都有记录。'), access));

  if (!c.anonymised) {
    if (!closed) renderAssign(assignBox, c, path, stations, ctx);
    renderTransition(transitionBox, c, path, ctx);
  }
  renderInternal(internal, c, path, stations, ctx);
  renderThread(thread, c, path, ctx);
  verify(verifyBox, path);
  loadAccess();

  async function loadAccess() {
    clear(access, paged([
      { label: '时间', value: (a) => time(a.at), class: 'nowrap' },
      { label: '人员', value: (a) => a.username || '#' + a.staff_id },
      { label: '操作', value: (a) => (a.action === 'reveal' ? badge('查看完整联系方式', 'warn') : '查看案件') },
      { label: '内容', value: (a) => String(a.fields || '').split(',').filter(Boolean).map((f) => accessFields[f] || f).join('、') },
      { label: '原因', value: (a) => a.reason || '' },
    ], (cursor) => get(path + '/access-log', { cursor, limit: 20 }), '暂无记录。'));
  }
}

// categoryButton corrects the category she chose (or staff recorded):
// with a reason, kept as an internal record; the figures by category
// follow the corrected one.
function categoryButton(c, path, ctx) {
  return button('更正类别', async () => {
    const r = await dialog({
      title: '更正案件类别',
      message: '当前类别：' + (c.category_name || label(caseCategories, c.category)) + '。更正会记入内部记录（求助人看不到），统计按更正后的类别计。',
      submitLabel: '更正',
      fields: [
        { name: 'category', label: '正确的类别', type: 'select',
          options: [['', '请选择'], ...Object.entries(caseCategories).filter(([k]) => k !== c.category)] },
        { name: 'reason', label: '更正原因', type: 'textarea', rows: 2, required: true, placeholder: '如：电话核实，实为家庭暴力' },
      ],
      validate: (v) => {
        const bad = {};
        if (!v.category) bad.category = '请选择正确的类别';
        if (!v.reason.trim()) bad.reason = '请写明更正原因';
        return Object.keys(bad).length ? bad : null;
      },
      onSubmit: (v) => post(path + '/category', { category: v.category, reason: v.reason.trim() }),
      successMessage: (r) => '类别已更正为“' + (r.category_name || label(caseCategories, r.category)) + '”',
    });
    if (r) ctx.refresh();
  }, 'btn btn-small set-category');
}

function waitingButton(c, path, ctx) {
  const b = button(c.waiting_user ? '恢复计时（求助人已回复）' : '暂停计时（等待求助人回复）', async () => {
    const r = await dialog({
      title: b.textContent, message: '暂停期间不计入办理时限。', submitLabel: '确定',
      fields: [{ name: 'note', label: '内部备注（可留空）', type: 'textarea', rows: 2 }],
      onSubmit: (v) => post(path + '/waiting', { waiting: !c.waiting_user, note: v.note }),
      successMessage: c.waiting_user ? '已恢复计时' : '已暂停计时',
    });
    if (r) ctx.refresh();
  }, 'btn btn-small waiting');
  return h('p', null, b);
}

async function renderAssign(box, c, path, stations, ctx) {
  const current = h('p', null, '当前：', c.station_id ? h('strong', null, stationName(stations, c.station_id)) : '未分派');
  const active = [...stations.values()].filter((s) => s.active);
  const sugg = h('div', null, loading('正在计算推荐…'));
  const f = form({
    fields: [
      { name: 'station_id', label: c.station_id ? '转给服务站' : '分派到服务站', type: 'select',
        options: [['', '请选择'], ...active.map((s) => [String(s.id), `${s.name}（在办 ${s.load}${s.capacity ? ' / ' + s.capacity : ''}）`])] },
      { name: 'reason', label: c.station_id ? '转派原因（必填）' : '分派说明（可留空）', type: 'textarea', rows: 2 },
    ],
    submitLabel: c.station_id ? '转派' : '分派',
    onSubmit: (v) => post(path + '/assign', { station_id: Number(v.station_id) || 0, reason: v.reason.trim() }),
    successMessage: '已分派，服务站值班人员会收到提醒',
    onSuccess: () => ctx.refresh(),
  });
  clear(box, current, h('h3', null, '推荐的服务站'), sugg, f.el);
  try {
    const r = await get(path + '/route');
    const items = (r.items || []).slice(0, 5);
    clear(sugg, items.length ? h('ul', { class: 'suggestions' }, items.map((s, i) => h('li', null,
      h('strong', null, (i + 1) + '. ' + s.name), h('span', { class: 'small muted' }, label(stationKinds, s.kind)),
      s.category_match ? badge('类别匹配', 'ok') : null, s.district_match ? badge('区县匹配', 'ok') : null,
      s.full ? badge('已满', 'err') : h('span', { class: 'small' }, `在办 ${s.load}${s.capacity ? ' / ' + s.capacity : ''}`),
      s.id === c.station_id ? badge('当前') : button('选用', () => {
        f.set('station_id', String(s.id));
        f.el.querySelector('[data-field=station_id] select').focus();
      }, 'btn btn-small use-suggestion')))) : h('p', { class: 'empty' }, '没有可用的服务站。请管理员先添加服务站。'));
  } catch (err) {
    clear(sugg, h('p', { class: 'muted small' }, '推荐暂不可用：' + err.message));
  }
}

function renderTransition(box, c, path, ctx) {
  const next = c.next || [];
  if (!next.length) {
    clear(box, h('p', { class: 'empty' }, '当前状态不能再变更。'));
    return;
  }
  const f = form({
    fields: [
      { name: 'to', label: '变更为', type: 'select', options: next.map((s) => [s, label(caseStatusNames, s)]) },
      { name: 'outcome', label: '处理结果', type: 'select', options: [['', '请选择'], ...Object.entries(caseOutcomes)], hint: '结案时必选' },
      { name: 'note', label: '内部备注（求助人看不到）', type: 'textarea', rows: 2 },
      { name: 'public_message', label: '告知求助人（可留空）', type: 'textarea', rows: 2, hint: '会显示在她的小程序里，并以中性措辞通知她' },
    ],
    names: { to: '状态' },
    submitLabel: '变更状态',
    validate: (v) => (v.to === 'closed' && !v.outcome ? { outcome: '结案须选择处理结果' } : null),
    onSubmit: (v) => post(path + '/transition', {
      to: v.to, note: v.note, public_message: v.public_message, outcome: v.to === 'closed' ? v.outcome : '',
    }),
    successMessage: (r) => '状态已变更为“' + label(caseStatusNames, r.status) + '”',
    onSuccess: () => ctx.refresh(),
  });
  const sync = () => {
    const to = f.el.querySelector('[data-field=to] select').value;
    f.el.querySelector('[data-field=outcome]').hidden = to !== 'closed';
    f.el.querySelector('[data-field=note] label').firstChild.textContent = to === 'reopened' ? '重新开启的原因（必填，求助人看不到）' : '内部备注（求助人看不到）';
  };
  f.el.addEventListener('change', sync);
  sync();
  clear(box, h('p', null, '当前状态：', badge(label(caseStatusNames, c.status), 'info')), f.el);
}

function renderInternal(box, c, path, stations, ctx) {
  const events = (c.events || []).filter((e) => !herKinds.has(e.kind));
  const note = form({
    fields: [{ name: 'text', label: '添加内部备注', type: 'textarea', rows: 2 }],
    submitLabel: '保存备注', reset: true,
    onSubmit: (v) => post(path + '/notes', { text: v.text }), successMessage: '备注已保存', onSuccess: () => ctx.refresh(),
  });
  const contact = form({
    fields: [
      { name: 'channel', label: '方式', type: 'select', options: Object.entries(contactChannels) },
      { name: 'direction', label: '方向', type: 'select', options: Object.entries(directions) },
      { name: 'note', label: '联系情况', type: 'textarea', rows: 2 },
    ],
    submitLabel: '记录联系', reset: true,
    onSubmit: (v) => post(path + '/contacts', v), successMessage: '已记录', onSuccess: () => ctx.refresh(),
  });
  clear(box, events.length ? h('ul', { class: 'timeline internal-events' }, events.map((e) => h('li', { dataset: { kind: e.kind } },
    h('div', { class: 'when' }, time(e.at), ' · ', actor(e), e.visible ? ' · ' : '', e.visible ? badge('求助人可见') : null),
    h('div', null, eventLine(e, stations)),
    e.text ? h('div', { class: 'story' }, e.text) : null))) : h('p', { class: 'empty' }, '暂无记录。'),
  c.anonymised ? null : [note.el, h('details', null, h('summary', null, '记录一次电话或面谈'), contact.el)]);
}

function renderThread(box, c, path, ctx) {
  const events = (c.events || []).filter((e) => herKinds.has(e.kind));
  const msg = form({
    fields: [{ name: 'text', label: '发送给求助人', type: 'textarea', rows: 3, placeholder: '她会在小程序“我的求助”中看到' }],
    submitLabel: '发送', reset: true,
    onSubmit: (v) => post(path + '/messages', { text: v.text }), successMessage: '已发送', onSuccess: () => ctx.refresh(),
  });
  clear(box, events.length ? h('ul', { class: 'thread' }, events.map((e) => h('li', { class: e.kind === 'reply' ? 'from-us' : 'from-her', dataset: { kind: e.kind } },
    h('div', { class: 'when' }, time(e.at), ' · ', e.kind === 'reply' ? actor(e) : '求助人',
      e.kind === 'feedback' ? ` · 评价 ${'★'.repeat(Number((e.meta || {}).rating) || 0)}` : ''),
    h('div', { class: 'story' }, e.text || '')))) : h('p', { class: 'empty' }, '还没有往来消息。'),
  c.anonymised || c.status === 'closed' ? null : msg.el);
}

async function verify(box, path) {
  try {
    const r = await get(path + '/verify');
    clear(box, r.ok
      ? h('p', { class: 'verify-ok' }, `✓ 事件链完整：共 ${r.events} 条事件，未被改动。`, h('br'), h('span', { class: 'hash' }, '末条哈希 ' + r.head))
      : h('div', { class: 'notice notice-error', role: 'alert' }, h('strong', { class: 'verify-bad' }, '事件链校验失败'),
        h('p', null, `第 ${r.first_broken_seq} 条事件：${r.reason}`), h('p', null, '请立即报告管理员。')));
  } catch (err) {
    clear(box, errorBox(err, () => verify(box, path)));
  }
}

// --- stations ---

function listText(a) {
  return (a || []).join('、');
}

function splitList(s) {
  return String(s || '').split(/[,，、\n]/).map((x) => x.trim()).filter(Boolean);
}

function stationFields(s = {}) {
  return [
    { name: 'name', label: '名称', value: s.name, full: true, required: true },
    { name: 'kind', label: '类型', type: 'select', options: Object.entries(stationKinds), value: s.kind || 'law_firm' },
    { name: 'capacity', label: '在办上限', type: 'number', min: 0, value: s.capacity ?? 0, hint: '0 表示不限' },
    { name: 'phone', label: '对外电话', value: s.phone, hint: '紧急求助时提供给求助人' },
    { name: 'address', label: '地址', value: s.address },
    { name: 'categories', label: '受理类别（不选为全部）', type: 'checkboxes', options: Object.entries(caseCategories), value: s.categories || [] },
    { name: 'districts', label: '服务区县', value: listText(s.districts), hint: '多个用顿号或逗号分隔；留空为全市' },
    { name: 'duty_staff_ids', label: '值班人员编号', value: (s.duty_staff_ids || []).join(', '), hint: '“人员”页面中的账号编号，多个用逗号分隔；他们会收到分派和超时提醒' },
  ];
}

function stationBody(v) {
  const ids = splitList(v.duty_staff_ids);
  const bad = ids.filter((x) => !/^\d+$/.test(x));
  if (bad.length) throw new ApiError(400, 'invalid', '请更正标出的内容后再提交。', { duty_staff_ids: '须为数字编号，用逗号分隔' });
  return {
    name: v.name, kind: v.kind, capacity: v.capacity ?? 0, phone: v.phone.trim(), address: v.address.trim(),
    categories: v.categories, districts: splitList(v.districts), duty_staff_ids: ids.map(Number),
  };
}

async function renderStations(main, ctx) {
  const admin = hasRole(['admin']);
  const createBox = h('div', { hidden: true });
  main.append(link('/cases', '← 返回案件列表'),
    pageHeader('服务站', '承接 12338 案件的律师事务所、心理咨询机构、法律援助中心等',
      admin ? button('新建服务站', () => { createBox.hidden = !createBox.hidden; }, 'btn btn-primary new-station') : null),
    createBox);
  if (admin) {
    const f = form({
      fields: stationFields(), submitLabel: '创建服务站',
      onSubmit: async (v) => post('/stations', stationBody(v)),
      successMessage: '服务站已创建', onSuccess: () => ctx.refresh(),
    });
    createBox.append(card('新建服务站', f.el));
  } else {
    main.append(h('p', { class: 'muted small' }, '只有管理员可以新建和修改服务站。'));
  }
  const list = h('div', null, loading());
  main.append(card('全部服务站', list));
  try {
    const r = await get('/stations');
    clear(list, table([
      { label: '编号', value: (s) => '#' + s.id },
      { label: '名称', value: (s) => s.name },
      { label: '类型', value: (s) => label(stationKinds, s.kind) },
      { label: '受理类别', value: (s) => (s.categories.length ? s.categories.map((x) => label(caseCategories, x)).join('、') : '全部') },
      { label: '区县', value: (s) => listText(s.districts) || '全市' },
      { label: '在办', value: (s) => `${num(s.load)}${s.capacity ? ' / ' + num(s.capacity) : ''}`, class: 'num' },
      { label: '电话', value: (s) => s.phone || '—', class: 'nowrap' },
      { label: '状态', value: (s) => (s.active ? badge('启用', 'ok') : badge('已停用')) },
      { label: '', value: (s) => (admin ? stationActions(s, ctx) : '') },
    ], r.items, '还没有服务站。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

function stationActions(s, ctx) {
  const edit = button('编辑', async () => {
    const ok = await dialog({
      title: '编辑服务站：' + s.name, fields: stationFields(s), submitLabel: '保存',
      onSubmit: async (v) => patch('/stations/' + s.id, stationBody(v)), successMessage: '已保存',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-small');
  const toggle = button(s.active ? '停用' : '启用', async () => {
    if (s.active) {
      const ok = await dialog({
        title: '停用服务站', message: `停用“${s.name}”后不再向其分派新案件，已分派的案件不受影响。`, submitLabel: '停用', danger: true,
        onSubmit: () => del('/stations/' + s.id), successMessage: '已停用',
      });
      if (ok) ctx.refresh();
    } else if (await action(toggle, () => patch('/stations/' + s.id, { active: true }), '已启用') !== undefined) {
      ctx.refresh();
    }
  }, 'btn btn-small' + (s.active ? ' btn-danger' : ''));
  return h('div', { class: 'row' }, edit, toggle);
}

// --- the working calendar ---

const weekdayNames = { mon: '周一', tue: '周二', wed: '周三', thu: '周四', fri: '周五', sat: '周六', sun: '周日' };

// dateList reads dates typed one a line or separated by commas, spaces or
// 、; the server checks them.
function dateList(s) {
  return String(s || '').split(/[\s,，、]+/).map((x) => x.trim()).filter(Boolean);
}

async function renderCalendar(main, ctx) {
  const admin = hasRole(['admin']);
  main.append(link('/cases', '← 返回案件列表'),
    pageHeader('工作日历', '首次响应时限按工作时间计算：节假日不计，调休上班日按正常工作时间计。'));
  const box = h('div', null, loading());
  main.append(box);
  let cal;
  try {
    cal = await get('/calendar');
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const facts = card('工作时间', h('dl', { class: 'kv' },
    h('dt', null, '每天'), h('dd', null, cal.working_hours.replace('-', '–')),
    h('dt', null, '工作日'), h('dd', null, (cal.working_days || []).map((d) => weekdayNames[d] || d).join('、')),
    h('dt', null, '节假日与调休'), h('dd', { class: 'calendar-source' }, cal.source === 'database'
      ? `管理员于 ${time(cal.updated_at)} 保存（第 ${cal.version} 版）`
      : '来自部署配置，管理员尚未在此保存')),
  h('p', { class: 'muted small' }, '工作时间和工作日在部署配置中设置。修改节假日后，新登记的案件按新日历计算时限；已有案件的时限不重新计算。'));
  if (!admin) {
    clear(box, facts, card('节假日', h('p', { class: 'calendar-holidays' }, (cal.holidays || []).join('、') || '无')),
      card('调休上班日', h('p', { class: 'calendar-workdays' }, (cal.workdays || []).join('、') || '无')),
      h('p', { class: 'muted small' }, '只有管理员可以修改节假日和调休上班日。'));
    return;
  }
  const f = form({
    fields: [
      { name: 'holidays', label: '节假日（不计工作时间）', type: 'textarea', rows: 8, value: (cal.holidays || []).join('\n'),
        hint: '每行一个日期，如 2026-10-01；最多 400 个', full: true },
      { name: 'workdays', label: '调休上班日（按正常工作时间计，即使是周末）', type: 'textarea', rows: 4,
        value: (cal.workdays || []).join('\n'), hint: '如 2026-09-20（周日）、2026-10-10（周六）', full: true },
    ],
    submitLabel: '保存日历',
    onSubmit: (v) => put('/calendar', { holidays: dateList(v.holidays), workdays: dateList(v.workdays), version: cal.version }),
    successMessage: '工作日历已保存',
    onSuccess: () => ctx.refresh(),
  });
  clear(box, facts, card('节假日与调休', f.el));
}
