// DOM helpers for the pages. Everything is built with createElement and
// textContent, never innerHTML: data from the server can never become
// markup, and the Content-Security-Policy forbids inline styles and
// scripts anyway.
import { ApiError } from './api.js';
import { toRFC3339, toLocalInput } from './format.js';

export const BASE = '/console';

// h builds an element: h('a', {href, class, onclick, dataset:{…}}, child…).
// Children are nodes or strings (text); null and false are skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) { if (typeof v === 'function') el.addEventListener(k.slice(2), v); } // never an inline handler
    else if (['value', 'checked', 'disabled', 'selected', 'hidden', 'multiple', 'required', 'readOnly'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// clear empties el and appends children.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// safeURL returns u when it is an http(s) URL or a path on this site, and
// '' otherwise (a javascript: or data: URL from the server is never made a
// link; the Content-Security-Policy would block it as well).
export function safeURL(u) {
  if (typeof u !== 'string' || u === '') return '';
  if (u.startsWith('/') && !u.startsWith('//')) return u;
  try {
    const p = new URL(u);
    return p.protocol === 'https:' || p.protocol === 'http:' ? p.href : '';
  } catch {
    return '';
  }
}

// link is an in-app link (the router handles the click).
export function link(path, text, cls) {
  return h('a', { href: BASE + path, class: cls, dataset: { link: '' } }, text);
}

let toastBox;
// toast shows a short message: kind "success", "error" or "info".
export function toast(message, kind = 'success') {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const t = h('div', { class: ['toast', 'toast-' + kind] }, message);
  toastBox.append(t);
  setTimeout(() => t.classList.add('toast-leave'), kind === 'error' ? 6000 : 3500);
  setTimeout(() => t.remove(), kind === 'error' ? 6500 : 4000);
}

export function pageHeader(title, subtitle, ...actions) {
  return h('div', { class: 'page-header' },
    h('div', null, h('h1', null, title), subtitle ? h('p', { class: 'subtitle' }, subtitle) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, children);
}

export function button(text, onclick, cls = 'btn') {
  return h('button', { type: 'button', class: cls, onclick }, text);
}

export function loading(text = '正在加载…') {
  return h('p', { class: 'loading' }, text);
}

export function badge(text, kind = '') {
  return h('span', { class: ['badge', kind && 'badge-' + kind] }, text);
}

// errorBox is a page's or section's load failure, with a retry.
export function errorBox(err, retry) {
  let msg = err && err.message ? err.message : '加载失败';
  let title = '加载失败';
  if (err instanceof ApiError && err.status === 403) {
    title = '没有权限';
    msg = '您的角色不能查看这部分内容。如需使用，请联系管理员分配角色。';
  } else if (err instanceof ApiError && err.status === 404) {
    title = '暂时无法使用';
    msg = err.code === 'not_found' ? '内容不存在，或该功能的接口尚未开通。' : msg;
  }
  return h('div', { class: 'notice notice-error', role: 'alert' },
    h('strong', null, title), h('p', null, msg),
    retry ? button('重试', retry, 'btn btn-small') : null);
}

export function empty(text = '暂无数据') {
  return h('p', { class: 'empty' }, text);
}

// statCards shows figures as tiles: [{label, value, hint}].
export function statCards(items) {
  return h('div', { class: 'stats' }, items.map((it) =>
    h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, it.label), h('div', { class: 'stat-value' }, it.value),
      it.hint ? h('div', { class: 'stat-hint' }, it.hint) : null)));
}

// tabs: [{label, path, active}] as in-app links.
export function tabs(items) {
  return h('nav', { class: 'tabs', 'aria-label': '分区' }, items.map((t) => {
    const a = link(t.path, t.label, t.active ? 'tab active' : 'tab');
    if (t.active) a.setAttribute('aria-current', 'page');
    return a;
  }));
}

// table: columns [{label, value(row) → string|Node, class}], rows.
export function table(columns, rows, emptyText) {
  if (!rows || rows.length === 0) return empty(emptyText);
  return h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.class, scope: 'col' }, c.label)))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => {
      const v = c.value(r);
      return h('td', { class: c.class, 'data-label': c.label }, v === undefined || v === null ? '' : v);
    }))))));
}

// paged lists a cursor-paged API answer with a "加载更多" button.
// load(cursor) → {items, next_cursor}.
export function paged(columns, load, emptyText) {
  const box = h('div', { class: 'paged' });
  const rows = [];
  let next = '';
  async function more(first) {
    const btn = box.querySelector('.more');
    if (btn) { btn.disabled = true; btn.textContent = '正在加载…'; }
    try {
      const page = await load(first ? '' : next);
      rows.push(...(page.items || []));
      next = page.next_cursor || '';
      clear(box, table(columns, rows, emptyText),
        next ? h('div', { class: 'more-row' }, button('加载更多', () => more(false), 'btn more')) : null);
    } catch (err) {
      if (first) clear(box, errorBox(err, () => more(true)));
      else {
        toast(err.message, 'error');
        if (btn) { btn.disabled = false; btn.textContent = '加载更多'; }
      }
    }
  }
  box.append(loading());
  more(true);
  return box;
}

// --- forms ---

let fieldSeq = 0;

// field builds one labelled input. spec: {name, label, type, value,
// options:[[value, label]], placeholder, hint, rows, min, max, step, full,
// required (a marker only: the server validates)}.
export function field(spec) {
  const id = 'f' + ++fieldSeq;
  const type = spec.type || 'text';
  const errId = id + '-err';
  const common = { id, name: spec.name, 'aria-describedby': errId };
  let input;
  if (type === 'textarea') {
    input = h('textarea', { ...common, rows: spec.rows || 4, placeholder: spec.placeholder, maxlength: spec.maxlength }, spec.value || '');
  } else if (type === 'select') {
    input = h('select', common, (spec.options || []).map(([v, l]) =>
      h('option', { value: v, selected: String(spec.value ?? '') === String(v) }, l)));
  } else if (type === 'checkbox') {
    input = h('input', { ...common, type: 'checkbox', checked: !!spec.value });
  } else if (type === 'checkboxes') {
    const chosen = new Set(spec.value || []);
    input = h('div', { class: 'checks', id, role: 'group', 'aria-describedby': errId }, (spec.options || []).map(([v, l]) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: spec.name, value: v, checked: chosen.has(v) }), l)));
  } else {
    const htmlType = type === 'datetime' ? 'datetime-local' : type;
    let value = spec.value ?? '';
    if (type === 'datetime') value = toLocalInput(spec.value);
    input = h('input', { ...common, type: htmlType, value, placeholder: spec.placeholder, min: spec.min, max: spec.max,
      step: spec.step, autocomplete: spec.autocomplete || (type === 'password' ? 'off' : undefined), maxlength: spec.maxlength,
      inputmode: spec.inputmode });
  }
  const lab = type === 'checkbox'
    ? h('label', { class: 'check', for: id }, input, spec.label)
    : h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
  return h('div', { class: ['field', spec.full && 'full', 'field-' + type], dataset: { field: spec.name, type } },
    lab, type === 'checkbox' ? null : input,
    spec.hint ? h('p', { class: 'hint' }, spec.hint) : null,
    h('p', { class: 'field-error', id: errId, 'aria-live': 'polite' }));
}

// readField reads a field's value by its type: numbers as numbers
// (undefined when empty, NaN when not a number), datetimes as RFC 3339
// (+08:00), checkboxes as a list.
export function readField(f) {
  const type = f.dataset.type;
  if (type === 'checkboxes') return [...f.querySelectorAll('input:checked')].map((i) => i.value);
  const input = f.querySelector('input, select, textarea');
  if (!input) return undefined;
  if (type === 'checkbox') return input.checked;
  const v = input.value;
  if (type === 'number') {
    if (v.trim() === '') return input.validity && input.validity.badInput ? NaN : undefined;
    return Number(v);
  }
  if (type === 'datetime') return toRFC3339(v);
  return v;
}

// clearErrors removes the field messages and the banner of a form.
export function clearErrors(root) {
  for (const f of root.querySelectorAll('.field.has-error')) {
    f.classList.remove('has-error');
    const e = f.querySelector(':scope > .field-error');
    if (e) e.textContent = '';
    for (const i of f.querySelectorAll('input, select, textarea')) i.removeAttribute('aria-invalid');
  }
  const b = root.querySelector(':scope > .form-banner');
  if (b) b.replaceChildren();
}

// showErrors puts an error's field messages next to their fields (by
// data-field, which holds the API's field name, e.g. "title" or
// "button[0].sub_button[1].name") and everything else in the banner.
// The inputs keep what was typed.
export function showErrors(root, err, names = {}) {
  clearErrors(root);
  let banner = root.querySelector(':scope > .form-banner');
  if (!banner) {
    banner = h('div', { class: 'form-banner', role: 'alert' });
    root.prepend(banner);
  }
  const rest = [];
  let first = null;
  const fields = (err && err.fields) || {};
  for (const [k, msg] of Object.entries(fields)) {
    const f = [...root.querySelectorAll('.field')].find((x) => x.dataset.field === k);
    if (!f) { rest.push((names[k] || k) + '：' + msg); continue; }
    f.classList.add('has-error');
    f.querySelector(':scope > .field-error').textContent = msg;
    for (const i of f.querySelectorAll('input, select, textarea')) i.setAttribute('aria-invalid', 'true');
    first = first || f;
  }
  const head = Object.keys(fields).length && !rest.length ? '请更正标出的内容后再提交。' : (err && err.message) || '操作失败';
  banner.replaceChildren(h('div', { class: 'notice notice-error' }, h('p', null, head),
    rest.length ? h('ul', null, rest.map((r) => h('li', null, r))) : null));
  if (!first) banner.scrollIntoView({ block: 'nearest' });
  const marked = root.querySelector('.field.has-error');
  const focus = (marked || first) && (marked || first).querySelector('input, select, textarea');
  if (focus) focus.focus();
}

// form builds a form of fields. opts: {fields, submitLabel, onSubmit(values)
// → Promise, onSuccess(result, form), successMessage, reset (clear the
// inputs after success), validate(values) → {field: message} | null,
// extra (nodes after the fields), names ({field: label} for banner lines)}.
// On failure the inputs are left exactly as typed.
export function form(opts) {
  const fieldEls = opts.fields.map((f) => (f instanceof Node ? f : field(f)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, opts.submitLabel || '保存');
  const el = h('form', { class: ['form', opts.class], novalidate: true },
    h('div', { class: 'form-banner', role: 'alert' }),
    h('div', { class: 'form-grid' }, fieldEls), opts.extra || null,
    h('div', { class: 'form-actions' }, submit, opts.actions || null));
  const names = { ...(opts.names || {}) };
  for (const f of opts.fields) if (!(f instanceof Node)) names[f.name] = f.label;
  const api = {
    el,
    values() {
      const out = {};
      for (const f of el.querySelectorAll('.field')) {
        if (f.closest('form') !== el || f.dataset.skip !== undefined) continue;
        out[f.dataset.field] = readField(f);
      }
      return out;
    },
    set(name, value) {
      const f = [...el.querySelectorAll('.field')].find((x) => x.dataset.field === name);
      const i = f && f.querySelector('input, select, textarea');
      if (!i) return;
      if (f.dataset.type === 'checkbox') i.checked = !!value;
      else if (f.dataset.type === 'datetime') i.value = toLocalInput(value);
      else i.value = value ?? '';
    },
    showErrors: (err) => showErrors(el, err, names),
    clearErrors: () => clearErrors(el),
  };
  let busy = false;
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    const values = api.values();
    const local = {};
    for (const [k, v] of Object.entries(values)) if (typeof v === 'number' && Number.isNaN(v)) local[k] = '须为数字';
    Object.assign(local, (opts.validate && opts.validate(values)) || {});
    if (Object.keys(local).length) {
      api.showErrors(new ApiError(400, 'invalid', '请更正标出的内容后再提交。', local));
      return;
    }
    busy = true;
    const label = submit.textContent;
    submit.disabled = true;
    submit.textContent = '提交中…';
    try {
      const result = await opts.onSubmit(values);
      api.clearErrors();
      if (opts.successMessage) toast(typeof opts.successMessage === 'function' ? opts.successMessage(result) : opts.successMessage);
      if (opts.reset) el.reset();
      if (opts.onSuccess) await opts.onSuccess(result, api);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      api.showErrors(err); // beside the form, so no toast as well
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = label;
    }
  });
  return api;
}

// action runs an async action from a button: disables it meanwhile, toasts
// success or the error. Returns the result, or undefined on failure.
export async function action(btn, fn, successMessage) {
  const label = btn.textContent;
  btn.disabled = true;
  btn.textContent = '处理中…';
  try {
    const r = await fn();
    if (successMessage) toast(successMessage);
    return r;
  } catch (err) {
    toast(err.message || '操作失败', 'error');
    return undefined;
  } finally {
    btn.disabled = false;
    btn.textContent = label;
  }
}

// dialog opens a modal with a form. opts: {title, message, fields,
// submitLabel, danger, validate(values), names, onSubmit(values)}. Resolves with onSubmit's result,
// or null when cancelled; a failed onSubmit keeps the dialog open with the
// errors shown.
export function dialog(opts) {
  return new Promise((resolve) => {
    let done = false;
    const cancel = h('button', { type: 'button', class: 'btn' }, '取消');
    const f = form({
      fields: opts.fields || [], submitLabel: opts.submitLabel || '确定', actions: cancel,
      onSubmit: opts.onSubmit || (async (v) => v), successMessage: opts.successMessage, validate: opts.validate, names: opts.names,
      class: opts.danger ? 'form-danger' : '',
      onSuccess: (r) => { done = true; dlg.close(); resolve(r ?? true); },
    });
    const dlg = h('dialog', { class: 'dialog', 'aria-label': opts.title },
      h('h2', null, opts.title), opts.message ? h('p', { class: 'dialog-message' }, opts.message) : null, f.el);
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); if (!done) resolve(null); });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input, textarea, select');
    if (first) first.focus();
  });
}

// confirm asks a yes/no question.
export function confirm(title, message, submitLabel = '确定', danger = false) {
  return dialog({ title, message, submitLabel, danger });
}
