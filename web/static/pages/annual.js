// 年度报告: a year's figures, the summary paragraph in the federation's
// words, and the .xlsx export (GET /api/admin/reports/annual?year=, issue 8).
// Phase 1: built against API.md; adjusted when the real answer lands.
import { get, download } from '../js/api.js';
import { h, clear, pageHeader, card, form, loading, errorBox, button, action } from '../js/ui.js';
import { today } from '../js/format.js';
import { sectionsOf, renderSections } from '../js/figures.js';

export async function render(main, ctx) {
  const thisYear = Number(today().slice(0, 4));
  const year = Number(ctx.query.get('year')) || thisYear;
  const body = h('div', null, loading());
  const years = Array.from({ length: 6 }, (_, i) => thisYear - i).map((y) => [String(y), y + ' 年']);
  const f = form({
    class: 'inline-form',
    fields: [{ name: 'year', label: '年度', type: 'select', options: years, value: String(year) }],
    submitLabel: '查看',
    onSubmit: (v) => load(v.year),
  });
  let shown = year;
  const exportBtn = button('导出 Excel', () => action(exportBtn,
    () => download('/reports/annual', { year: shown, format: 'xlsx' }, `${shown}年度报告.xlsx`), '已开始下载'), 'btn');
  main.append(pageHeader('年度报告', '全年工作数据与总结', exportBtn), card(null, f.el), body);

  async function load(y) {
    shown = y;
    clear(body, loading());
    try {
      const res = await get('/reports/annual', { year: y });
      clear(body,
        res.summary ? card(`${y} 年工作总结`, h('p', { class: 'summary-text' }, res.summary)) : null,
        renderSections(sectionsOf(res)));
    } catch (err) {
      clear(body, errorBox(err, () => load(y)));
    }
  }
  await load(year);
}
