// Renders model.FigureSection values ({area, title, figures: [{key, name,
// value, unit, definition, breakdown}]}) as tiles and charts; shared by
// 概览 and 年度报告.
import { h, card, statCards } from './ui.js';
import { lineChart, barChart } from './chart.js';
import { num, percent, caseCategories } from './format.js';

const breakdownNames = { ...caseCategories };

function value(f) {
  if (f.unit === '%') return percent(f.value);
  return num(f.value) + (f.unit ? ' ' + f.unit : '');
}

// sectionsOf accepts {sections: […]}, {areas: […]} or a bare list.
export function sectionsOf(answer) {
  if (Array.isArray(answer)) return answer;
  return (answer && (answer.sections || answer.areas)) || [];
}

export function renderSections(sections) {
  if (!sections.length) return [h('p', { class: 'empty' }, '暂无数据。')];
  return sections.map((s) => {
    const figs = s.figures || [];
    const charts = figs.filter((f) => f.breakdown && Object.keys(f.breakdown).length).map((f) => {
      const keys = Object.keys(f.breakdown).sort();
      if (keys.every((k) => /^\d{4}-\d{2}(-\d{2})?$/.test(k))) {
        return lineChart({ title: f.name, labels: keys, series: [{ name: f.name, values: keys.map((k) => f.breakdown[k]) }] });
      }
      return barChart({ title: f.name, items: keys.map((k) => ({ label: breakdownNames[k] || k, value: f.breakdown[k] })) });
    });
    return card(s.title || s.area,
      statCards(figs.map((f) => ({ label: f.name, value: value(f) }))),
      charts.length ? h('div', { class: 'grid-2' }, charts) : null,
      figs.some((f) => f.definition) ? h('details', null, h('summary', null, '口径说明'),
        h('dl', { class: 'kv small' }, figs.flatMap((f) => [h('dt', null, f.name), h('dd', null, f.definition || '—')]))) : null);
  });
}
