// 概览: the figures of every area for a period, as tiles and charts
// (GET /api/admin/stats/overview?from=&to=, issue 8). Phase 1: built
// against API.md and model.FigureSection; the real answer lands with the
// staff-workspace area.
import { get } from '../js/api.js';
import { h, clear, pageHeader, form, loading, errorBox } from '../js/ui.js';
import { today } from '../js/format.js';
import { sectionsOf, renderSections } from '../js/figures.js';

export async function render(main, ctx) {
  const t = today();
  const from = ctx.query.get('from') || t.slice(0, 4) + '-01-01';
  const to = ctx.query.get('to') || t;
  const body = h('div', null, loading());
  const f = form({
    class: 'inline-form',
    fields: [{ name: 'from', label: '起始日期', type: 'date', value: from }, { name: 'to', label: '截止日期', type: 'date', value: to }],
    submitLabel: '查看',
    onSubmit: (v) => load(v.from, v.to),
  });
  main.append(pageHeader('概览', '各项工作的数据一览（按北京时间计日）'), h('section', { class: 'card' }, f.el), body);

  async function load(a, b) {
    clear(body, loading());
    try {
      const res = await get('/stats/overview', { from: a, to: b });
      clear(body, renderSections(sectionsOf(res)));
    } catch (err) {
      if (err.fields) f.showErrors(err);
      clear(body, errorBox(err, () => load(a, b)));
    }
  }
  await load(from, to);
}
