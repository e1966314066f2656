// 审计: the audit log of every staff write, and sign-in history
// (api/accounts.go; admin only).
import { get } from '../js/api.js';
import { h, card, pageHeader, paged, tabs, form, clear, badge } from '../js/ui.js';
import { time, label, loginOutcomes } from '../js/format.js';

export async function render(main, ctx) {
  const logins = ctx.parts[0] === 'logins';
  main.append(pageHeader('审计', '工作人员的每一次写操作与登录都有记录'),
    tabs([{ label: '操作日志', path: '/audit', active: !logins }, { label: '登录记录', path: '/audit/logins', active: logins }]));
  const results = h('div');
  if (logins) {
    const f = form({
      class: 'filters',
      fields: [
        { name: 'staff_id', label: '人员编号', type: 'number', min: 1 },
        { name: 'outcome', label: '结果', type: 'select', options: [['', '全部'], ...Object.entries(loginOutcomes).filter(([k]) => k !== 'success')] },
      ],
      submitLabel: '查询',
      onSubmit: async (v) => show(v),
    });
    main.append(card(null, f.el), card('登录记录', results));
    const show = (v) => clear(results, paged([
      { label: '时间', value: (x) => time(x.at), class: 'nowrap' },
      { label: '用户名', value: (x) => x.username || '（未知用户名）' },
      { label: '结果', value: (x) => badge(label(loginOutcomes, x.outcome), x.success ? 'ok' : 'warn') },
      { label: 'IP', value: (x) => x.ip },
    ], (cursor) => get('/logins', { ...v, cursor, limit: 50 }), '没有符合条件的记录。'));
    show({});
    return;
  }
  const f = form({
    class: 'filters',
    fields: [
      { name: 'staff_id', label: '人员编号', type: 'number', min: 1 },
      { name: 'action', label: '操作', placeholder: '如 fair.create' },
      { name: 'target_type', label: '对象类型', placeholder: '如 fair、staff' },
      { name: 'target_id', label: '对象编号' },
    ],
    submitLabel: '查询',
    onSubmit: async (v) => show(v),
  });
  main.append(card(null, f.el), card('操作日志', results));
  const show = (v) => clear(results, paged([
    { label: '时间', value: (x) => time(x.at), class: 'nowrap' },
    { label: '人员', value: (x) => x.username || '#' + x.staff_id },
    { label: '操作', value: (x) => x.action },
    { label: '对象', value: (x) => `${x.target_type} ${x.target_id}` },
    { label: '内容摘要', value: (x) => summary(x.summary) },
    { label: 'IP', value: (x) => x.ip },
  ], (cursor) => get('/audit', { ...v, cursor, limit: 50 }), '没有符合条件的记录。'));
  show({});
}

function summary(s) {
  if (!s || (typeof s === 'object' && Object.keys(s).length === 0)) return '—';
  return h('details', null, h('summary', null, '查看'), h('pre', null, JSON.stringify(s, null, 2)));
}
