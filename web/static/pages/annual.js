// 年度报告: a year's figures, the summary paragraph in the federation's
// words, and the .xlsx export (GET /api/admin/reports/annual?year=
// [&format=xlsx]; every role but caseworker; the export is audited).
import { get, download } from '../js/api.js';
import { h, clear, pageHeader, card, form, loading, errorBox, button, action, BASE } from '../js/ui.js';
import { today } from '../js/format.js';
import { sectionsOf, renderSections } from '../js/figures.js';

// firstYear is the server's earliest report year (stats.FirstYear).
const firstYear = 2014;

export async function render(main, ctx) {
  const thisYear = Number(today().slice(0, 4));
  const asked = Number(ctx.query.get('year'));
  const year = asked >= firstYear && asked <= thisYear ? asked : thisYear;
  const body = h('div', null, loading());
  const years = [];
  for (let y = thisYear; y >= firstYear; y--) years.push([String(y), y === thisYear ? y + ' 年（截至今天）' : y + ' 年']);
  const f = form({
    class: 'inline-form',
    fields: [{ name: 'year', label: '年度', type: 'select', options: years, value: String(year) }],
    submitLabel: '查看',
    onSubmit: (v) => load(v.year),
  });
  f.el.querySelector('select').addEventListener('change', (e) => load(e.target.value));
  let shown = year;
  const exportBtn = button('导出 Excel', () => action(exportBtn,
    () => download('/reports/annual', { year: shown, format: 'xlsx' }, `${shown}年度报告.xlsx`), '已开始下载'), 'btn export');
  main.append(pageHeader('年度报告', '全年工作数据与总结（导出会记入审计日志）', exportBtn), card(null, f.el), body);

  async function load(y, chosen = true) {
    shown = y;
    clear(body, loading());
    if (chosen && main.isConnected) history.replaceState(null, '', `${BASE}/annual?year=${encodeURIComponent(y)}`);
    try {
      const res = await get('/reports/annual', { year: y });
      clear(body,
        card(`${res.year || y} 年工作总结`,
          res.summary ? h('p', { class: 'summary-text' }, res.summary) : h('p', { class: 'empty' }, '本年度暂无可总结的数据。'),
          res.from ? h('p', { class: 'muted small' }, `统计期间：${res.from} 至 ${res.to}`) : null),
        renderSections(sectionsOf(res)));
    } catch (err) {
      if (err.fields) f.showErrors(err);
      clear(body, errorBox(err, () => load(y)));
    }
  }
  await load(year, false);
}
