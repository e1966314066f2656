// Renders model.FigureSection values ({area, title, figures: [{key, name,
// value, unit, definition, breakdown}]}) as tiles and charts; shared by
// 概览 and 年度报告. Each figure's definition is on its tile (hover) and in
// the section's 口径说明 (expand); breakdowns ("group:code" keys) are
// charted per group behind a 分项 expander.
import { h, card } from './ui.js';
import { lineChart, barChart, hbarChart } from './chart.js';
import { num, percent, breakdownGroups, breakdownNames } from './format.js';

// Units that are not counts: shown as tiles, left out of the bars.
const notCounts = new Set(['%', '小时', '天', '分钟', '时', '分', '秒']);

export function value(f) {
  if (f.unit === '%') return percent(f.value);
  return num(f.value) + (f.unit ? ' ' + f.unit : '');
}

// sectionsOf accepts {sections: […]}, {areas: […]} or a bare list.
export function sectionsOf(answer) {
  if (Array.isArray(answer)) return answer;
  return (answer && (answer.sections || answer.areas)) || [];
}

// groups splits a breakdown by the prefix of its keys ("month:2026-01" →
// group "month", code "2026-01"; a bare key is group "").
function groups(breakdown) {
  const out = new Map();
  for (const [k, v] of Object.entries(breakdown || {})) {
    const i = k.indexOf(':');
    const g = i < 0 ? '' : k.slice(0, i);
    const code = i < 0 ? k : k.slice(i + 1);
    if (!out.has(g)) out.set(g, []);
    out.get(g).push([code, v]);
  }
  return out;
}

function codeName(group, code) {
  if (group === 'station') return code === '0' ? '未分派' : '服务站 #' + code;
  return breakdownNames[code] || code || '（未填）';
}

// breakdownCharts draws one chart per group of a figure's breakdown: a
// line over months or days, bars otherwise.
function breakdownCharts(f) {
  const out = [];
  for (const [g, entries] of groups(f.breakdown)) {
    if (!entries.length) continue;
    const title = f.name + ' · ' + (breakdownGroups[g] || g);
    const dated = entries.every(([c]) => /^\d{4}-\d{2}(-\d{2})?$/.test(c));
    if (dated) {
      entries.sort(([a], [b]) => (a < b ? -1 : 1));
      out.push(lineChart({ title, labels: entries.map(([c]) => c), series: [{ name: f.name, values: entries.map(([, v]) => v) }] }));
      continue;
    }
    entries.sort(([, a], [, b]) => b - a);
    const items = entries.map(([c, v]) => ({ label: codeName(g, c), value: f.unit === '%' ? Math.round(v * 1000) / 10 : v }));
    out.push(items.length > 6 || items.some((i) => i.label.length > 4) ? hbarChart({ title, items }) : barChart({ title, items }));
  }
  return out;
}

// tile is one figure: name, value and unit, the definition on hover and
// for screen readers.
function tile(f) {
  return h('div', { class: 'stat', title: f.definition || undefined, dataset: { key: f.key || '' } },
    h('div', { class: 'stat-label' }, f.name),
    h('div', { class: 'stat-value' }, value(f)),
    f.definition ? h('div', { class: 'visually-hidden' }, f.definition) : null);
}

export function renderSections(sections) {
  if (!sections.length) return [h('p', { class: 'empty' }, '暂无数据。')];
  return sections.map((s) => {
    const figs = s.figures || [];
    const counts = figs.filter((f) => !notCounts.has(f.unit));
    const details = figs.flatMap((f) => breakdownCharts(f));
    return card(s.title || s.area,
      h('div', { class: 'stats' }, figs.map(tile)),
      counts.length ? hbarChart({
        title: (s.title || s.area) + ' · 各项数字',
        items: counts.map((f) => ({ label: f.name, value: f.value, unit: f.unit, hint: f.definition })),
      }) : null,
      details.length ? h('details', { class: 'breakdowns' }, h('summary', null, `分项明细（${details.length} 张图）`),
        h('div', { class: 'grid-2' }, details)) : null,
      figs.some((f) => f.definition) ? h('details', { class: 'definitions' }, h('summary', null, '口径说明'),
        h('dl', { class: 'kv small' }, figs.flatMap((f) => [h('dt', null, f.name), h('dd', null, f.definition || '—')]))) : null);
  });
}
