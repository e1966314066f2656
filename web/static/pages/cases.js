// 12338: the case queue by status and SLA, and a case's page: masked data
// with a logged reveal, assignment, transitions, notes, messages and the
// access log (/api/admin/cases, /stations, issue 7; role caseworker, who
// sees her own station's cases only — the server answers 404 for others).
// Phase 1: built against API.md; adjusted when the cases API lands.
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, tabs, form, table, paged, link, loading, errorBox, button, badge, dialog, toast } from '../js/ui.js';
import { time, label, caseCategories, caseStatuses } from '../js/format.js';

const outcomes = [
  ['legal_aid', '法律援助'], ['mediation', '调解'], ['referral', '转介'], ['counselling', '心理疏导'],
  ['resolved', '已解决'], ['unreachable', '无法联系'], ['other', '其他'],
];

export async function render(main, ctx) {
  if (ctx.parts[0]) return renderCase(main, ctx, ctx.parts[0]);
  const status = ctx.query.get('status') || '';
  main.append(pageHeader('12338', '妇女维权求助：受理、分派与办理'),
    tabs([{ label: '全部', path: '/cases', active: !status },
      ...Object.entries(caseStatuses).map(([k, v]) => ({ label: v, path: '/cases?status=' + k, active: status === k }))]),
    card(null, paged([
      { label: '编号', value: (c) => link('/cases/' + encodeURIComponent(c.case_no), c.case_no) },
      { label: '类别', value: (c) => label(caseCategories, c.category) },
      { label: '状态', value: (c) => h('span', null, badge(label(caseStatuses, c.status), 'info'), c.danger ? ' ' : '', c.danger ? badge('紧急', 'err') : null) },
      { label: '求助人', value: (c) => c.name_masked || c.name || '—' },
      { label: '服务站', value: (c) => c.station_name || (c.station_id ? '#' + c.station_id : '未分派') },
      { label: '接收时间', value: (c) => time(c.created_at || c.received_at), class: 'nowrap' },
      { label: '时限', value: slaBadge },
    ], (cursor) => get('/cases', { status, cursor, limit: 50 }), '没有符合条件的案件。')));
}

function slaBadge(c) {
  const due = c.closure_due_at || c.first_response_due_at || (c.sla && (c.sla.closure_due_at || c.sla.first_response_due_at));
  if (c.sla_breached || (c.sla && c.sla.breached)) return badge('已超时', 'err');
  if (!due) return '—';
  const left = Date.parse(due) - Date.now();
  if (left < 0) return badge('已超时', 'err');
  if (left < 24 * 3600e3) return badge('24 小时内到期', 'warn');
  return h('span', { class: 'small muted' }, time(due) + ' 前');
}

async function renderCase(main, ctx, caseNo) {
  const path = '/cases/' + encodeURIComponent(caseNo);
  const box = h('div', null, loading());
  main.append(link('/cases', '← 返回案件列表'), box);
  let c;
  try {
    c = await get(path);
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const contact = h('dl', { class: 'kv' },
    h('dt', null, '姓名'), h('dd', null, c.name_masked || c.name || '—'),
    h('dt', null, '电话'), h('dd', null, c.phone_masked || c.phone || '—'));
  const reveal = button('查看完整联系方式', async () => {
    const r = await dialog({
      title: '查看完整联系方式', message: '每次查看都会记入访问日志。请写明查看原因。', submitLabel: '查看',
      fields: [{ name: 'reason', label: '原因', placeholder: '如：电话回访求助人' }],
      onSubmit: (v) => get(path, { reveal: 'true', reason: v.reason }),
    });
    if (r) clear(contact, h('dt', null, '姓名'), h('dd', null, r.name || '—'), h('dt', null, '电话'), h('dd', null, r.phone || '—'));
  }, 'btn btn-small');

  const stations = await get('/stations').then((r) => r.items || [], () => []);
  const assign = form({
    fields: [
      stations.length
        ? { name: 'station_id', label: '服务站', type: 'select', options: stations.map((s) => [String(s.id), s.name]) }
        : { name: 'station_id', label: '服务站编号', type: 'number', min: 1 },
      { name: 'reason', label: '分派说明' },
    ],
    submitLabel: '分派',
    onSubmit: (v) => post(path + '/assign', { station_id: Number(v.station_id), reason: v.reason }),
    successMessage: '已分派', onSuccess: () => ctx.refresh(),
  });
  const transition = form({
    fields: [
      { name: 'to', label: '变更为', type: 'select', options: Object.entries(caseStatuses).filter(([k]) => k !== c.status) },
      { name: 'outcome', label: '办理结果（结案时必填）', type: 'select', options: [['', '—'], ...outcomes] },
      { name: 'note', label: '内部备注（求助人不可见）', type: 'textarea', rows: 2 },
      { name: 'public_message', label: '告知求助人的进展（可留空）', type: 'textarea', rows: 2, hint: '通知将使用中性措辞，不会显示类别' },
    ],
    submitLabel: '变更状态',
    onSubmit: (v) => post(path + '/transition', v),
    successMessage: '状态已变更', onSuccess: () => ctx.refresh(),
  });
  const note = form({
    fields: [{ name: 'text', label: '内部备注', type: 'textarea', rows: 3 }],
    submitLabel: '添加备注', reset: true,
    onSubmit: (v) => post(path + '/notes', v), successMessage: '备注已添加', onSuccess: () => ctx.refresh(),
  });
  const message = form({
    fields: [{ name: 'text', label: '给求助人的消息', type: 'textarea', rows: 3 }],
    submitLabel: '发送', reset: true,
    onSubmit: (v) => post(path + '/messages', v), successMessage: '已发送', onSuccess: () => ctx.refresh(),
  });
  const access = h('div');
  const showAccess = button('查看访问日志', async () => {
    try {
      const r = await get(path + '/access-log');
      clear(access, table([
        { label: '时间', value: (a) => time(a.at), class: 'nowrap' },
        { label: '人员', value: (a) => a.username || '#' + a.staff_id },
        { label: '操作', value: (a) => a.action || (a.revealed ? '查看联系方式' : '查看') },
        { label: '原因', value: (a) => a.reason || '' },
      ], r.items, '暂无记录。'));
    } catch (err) {
      toast(err.message, 'error');
    }
  }, 'btn btn-small');

  clear(box,
    pageHeader('案件 ' + c.case_no, `${label(caseCategories, c.category)} · ${label(caseStatuses, c.status)}`),
    c.danger ? h('div', { class: 'notice notice-error', role: 'alert' }, h('strong', null, '紧急：求助人表示处于危险中'), h('p', null, '请立即联系，必要时协助报警（110）或申请人身安全保护令。')) : null,
    h('div', { class: 'grid-2' },
      card('求助内容', h('p', { class: 'story' }, c.description_masked || c.description || '—'),
        h('p', { class: 'muted small' }, '接收时间：' + time(c.created_at || c.received_at))),
      card('联系方式', contact, reveal)),
    h('div', { class: 'grid-2' }, card('分派', assign.el), card('办理', transition.el)),
    h('div', { class: 'grid-2' }, card('内部备注', note.el), card('消息', message.el)),
    card('经过', h('ul', { class: 'timeline' }, (c.events || []).map((e) => h('li', null,
      h('div', { class: 'when' }, time(e.at), ' · ', e.actor || e.username || ''),
      h('div', null, e.summary || e.kind || e.type, e.text ? '：' + e.text : ''))))),
    card('访问日志', h('p', { class: 'muted small' }, '每一次查看本案件都有记录。'), showAccess, access));
}
