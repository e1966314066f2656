// 概览: every area's figures for a period, as tiles with their
// definitions and SVG bar charts (GET /api/admin/stats/overview?from=&to=,
// dates in Asia/Shanghai, to inclusive; every role but caseworker).
import { get } from '../js/api.js';
import { h, clear, pageHeader, form, loading, errorBox, button, BASE } from '../js/ui.js';
import { today } from '../js/format.js';
import { sectionsOf, renderSections } from '../js/figures.js';

// daysBefore is the Shanghai date n days before the date d (YYYY-MM-DD).
function daysBefore(d, n) {
  const t = new Date(d + 'T00:00:00+08:00');
  t.setUTCDate(t.getUTCDate() - n);
  return new Date(t.getTime() + 8 * 3600e3).toISOString().slice(0, 10);
}

export async function render(main, ctx) {
  const t = today();
  const from = ctx.query.get('from') || t.slice(0, 4) + '-01-01';
  const to = ctx.query.get('to') || t;
  const body = h('div', null, loading());
  const period = h('p', { class: 'muted small' });
  const f = form({
    class: 'inline-form',
    fields: [
      { name: 'from', label: '起始日期', type: 'date', value: from, max: t },
      { name: 'to', label: '截止日期（含）', type: 'date', value: to, max: t },
    ],
    submitLabel: '查看',
    validate: (v) => (v.from && v.to && v.to < v.from ? { to: '截止日期不能早于起始日期' } : null),
    onSubmit: (v) => load(v.from, v.to),
  });
  const preset = (label, a, b) => button(label, () => {
    f.set('from', a);
    f.set('to', b);
    f.clearErrors();
    load(a, b);
  }, 'btn btn-small');
  main.append(pageHeader('概览', '各项工作的数据一览（按北京时间计日；悬停或展开“口径说明”查看每个数字的统计口径）'),
    h('section', { class: 'card' }, f.el, h('div', { class: 'row presets' },
      preset('今年', t.slice(0, 4) + '-01-01', t), preset('本月', t.slice(0, 8) + '01', t),
      preset('近 30 天', daysBefore(t, 29), t), preset('去年', (Number(t.slice(0, 4)) - 1) + '-01-01', (Number(t.slice(0, 4)) - 1) + '-12-31')),
    period), body);

  // load shows the period; a period the user chose is kept in the address
  // (so a reload or a shared link shows it again).
  async function load(a, b, chosen = true) {
    clear(body, loading());
    if (chosen && main.isConnected) {
      history.replaceState(null, '', `${BASE}/overview?from=${encodeURIComponent(a || '')}&to=${encodeURIComponent(b || '')}`);
    }
    try {
      const res = await get('/stats/overview', { from: a, to: b });
      period.textContent = `统计期间：${res.from} 至 ${res.to}`;
      clear(body, renderSections(sectionsOf(res)));
    } catch (err) {
      period.textContent = '';
      if (err.fields) f.showErrors(err);
      clear(body, errorBox(err, () => load(a, b)));
    }
  }
  await load(from, to, false);
}
