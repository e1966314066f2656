// Small SVG charts: a line chart for series over time and a bar chart for
// counts by category. Hand-written on purpose: the console has no build
// step, and the chart libraries worth carrying (Chart.js, ECharts) are
// hundreds of kilobytes of bundled code that would have to be vendored and
// kept up to date for two chart types. Colours come from app.css classes
// (.series-0 …), so the charts follow the console's palette and need no
// inline styles (forbidden by the Content-Security-Policy).
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// nice rounds up to 1, 2 or 5 times a power of ten.
function nice(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// scale picks the axis: a step of 1, 2 or 5 times a power of ten (whole
// numbers when every value is whole) and a top that is a multiple of it,
// with two to five grid lines.
export function scale(values) {
  const v = Math.max(0, ...values);
  const whole = values.every((x) => Number.isInteger(x));
  if (!(v > 0)) return { max: whole ? 4 : 1, step: whole ? 1 : 0.25 };
  let step = nice(v / 5);
  if (whole) step = Math.max(1, Math.round(step));
  return { max: Math.ceil(v / step - 1e-9) * step, step };
}

function fmt(n) {
  if (Math.abs(n) >= 10000) return (Math.round(n / 1000) / 10) + '万';
  return String(Math.round(n * 100) / 100);
}

const W = 640;
const PAD = { top: 16, right: 30, bottom: 40, left: 52 }; // room for the last x label at phone size

function frame(title, height) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet' });
  svg.append(s('title', null, title));
  return svg;
}

function yAxis(svg, { max, step }, height) {
  const inner = height - PAD.top - PAD.bottom;
  const n = Math.round(max / step);
  for (let i = 0; i <= n; i++) {
    const v = step * i;
    const y = PAD.top + inner - (inner * v) / max;
    svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', class: 'tick' }, fmt(v)));
  }
}

// xLabels writes at most about eight labels under the plot.
function xLabels(svg, labels, xOf, height) {
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((l, i) => {
    if (i % step !== 0 && i !== labels.length - 1) return;
    svg.append(s('text', { x: xOf(i), y: height - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, l));
  });
}

function legend(series) {
  const box = document.createElement('div');
  box.className = 'legend';
  series.forEach((se, i) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    const sw = document.createElement('span');
    sw.className = 'swatch swatch-' + (i % 6);
    item.append(sw, document.createTextNode(se.name));
    box.append(item);
  });
  return box;
}

// lineChart: {title, labels: [x…], series: [{name, values: [y…]}], height}.
// Returns a <figure> holding the SVG and a legend.
export function lineChart({ title, labels, series, height = 260 }) {
  const svg = frame(title, height);
  const sc = scale(series.flatMap((x) => x.values).filter((v) => typeof v === 'number'));
  const max = sc.max;
  const inner = height - PAD.top - PAD.bottom;
  const n = labels.length;
  const xOf = (i) => PAD.left + (n <= 1 ? (W - PAD.left - PAD.right) / 2 : ((W - PAD.left - PAD.right) * i) / (n - 1));
  const yOf = (v) => PAD.top + inner - (inner * v) / max;
  yAxis(svg, sc, height);
  xLabels(svg, labels, xOf, height);
  series.forEach((se, k) => {
    const pts = se.values.map((v, i) => [xOf(i), yOf(v || 0)]);
    svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: 'line series-' + (k % 6) }));
    pts.forEach(([x, y], i) => svg.append(s('circle', { cx: x, cy: y, r: 3, class: 'dot series-' + (k % 6) },
      s('title', null, `${labels[i]} ${se.name}：${fmt(se.values[i] || 0)}`))));
  });
  return wrap(title, svg, series.length > 1 ? legend(series) : null);
}

// barChart: {title, items: [{label, value}], height}.
export function barChart({ title, items, height = 260 }) {
  const svg = frame(title, height);
  const sc = scale(items.map((i) => i.value || 0));
  const max = sc.max;
  const inner = height - PAD.top - PAD.bottom;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, items.length);
  const bw = Math.min(48, slot * 0.6);
  yAxis(svg, sc, height);
  xLabels(svg, items.map((i) => i.label), (i) => PAD.left + slot * i + slot / 2, height);
  items.forEach((it, i) => {
    const v = it.value || 0;
    const bh = (inner * v) / max;
    const x = PAD.left + slot * i + (slot - bw) / 2;
    svg.append(s('rect', { x, y: PAD.top + inner - bh, width: bw, height: Math.max(bh, v > 0 ? 1 : 0), class: 'bar series-0' },
      s('title', null, `${it.label}：${fmt(v)}`)));
    svg.append(s('text', { x: x + bw / 2, y: PAD.top + inner - bh - 4, 'text-anchor': 'middle', class: 'value' }, fmt(v)));
  });
  return wrap(title, svg, null);
}

// hbarChart: {title, items: [{label, value, hint}]}: one horizontal bar a
// row with its label on the left, for named figures whose labels are too
// long to sit under vertical bars. Drawn narrower than the other charts
// (and capped in width by .chart-h), so its text stays legible on a phone.
export function hbarChart({ title, items }) {
  const w = 360;
  const labelW = 130;
  const valueW = 50;
  const row = 26;
  const height = items.length * row + 8;
  const svg = s('svg', { viewBox: `0 0 ${w} ${height}`, class: 'chart chart-h', role: 'img', 'aria-label': title,
    preserveAspectRatio: 'xMinYMin meet' });
  svg.append(s('title', null, title));
  const max = scale(items.map((i) => i.value || 0)).max;
  const span = w - labelW - valueW;
  items.forEach((it, i) => {
    const v = it.value || 0;
    const y = 4 + i * row;
    const bw = (span * v) / max;
    const label = it.label.length > 9 ? it.label.slice(0, 8) + '…' : it.label;
    svg.append(s('text', { x: labelW - 8, y: y + row / 2 + 4, 'text-anchor': 'end', class: 'label' }, label,
      s('title', null, it.hint ? `${it.label}：${it.hint}` : it.label)));
    svg.append(s('rect', { x: labelW, y: y + 5, width: Math.max(bw, v > 0 ? 1 : 0), height: row - 10, rx: 2, class: 'bar series-' + (it.series || 0) },
      s('title', null, `${it.label}：${fmt(v)}${it.unit || ''}${it.hint ? '\n' + it.hint : ''}`)));
    svg.append(s('text', { x: labelW + bw + 6, y: y + row / 2 + 4, class: 'value' }, fmt(v)));
  });
  return wrap(title, svg, null);
}

function wrap(title, svg, extra) {
  const fig = document.createElement('figure');
  fig.className = 'chart-box';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.append(cap, svg);
  if (extra) fig.append(extra);
  return fig;
}
