// The one way the console calls the server: attaches the staff token, maps
// API.md's error envelope {"error":{"code","message","fields"}} to an
// ApiError, and reports a lost session or a required password change to
// the app.
import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, fields, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields || null;
    this.retryAfter = retryAfter || 0;
  }
}

// Shown when the server gave no usable message.
const fallback = {
  0: '无法连接服务器，请检查网络后重试',
  400: '请求内容有误',
  401: '登录已失效，请重新登录',
  403: '没有权限执行此操作',
  404: '内容不存在，或接口尚未开通',
  405: '不支持的操作',
  409: '操作与当前状态冲突，请刷新后重试',
  413: '内容太大',
  415: '不支持的内容类型',
  429: '操作太频繁，请稍后再试',
  500: '服务器内部错误，请稍后再试',
  502: '微信服务暂时不可用，请稍后再试',
  503: '服务暂时不可用，请稍后再试',
};

const hooks = { unauthenticated: null, passwordChange: null, forbidden: null };

// onAuthProblem registers what the app does on a 401 (sign in again), on a
// 403 password_change_required, and on another 403 (roles may have
// changed since sign-in).
export function onAuthProblem(unauthenticated, passwordChange, forbidden) {
  hooks.unauthenticated = unauthenticated;
  hooks.passwordChange = passwordChange;
  hooks.forbidden = forbidden;
}

// busy counts the calls in flight and marks the page with data-busy
// while there are any (the browser tests wait for a quiet page).
let inFlight = 0;
function busy(d) {
  inFlight += d;
  document.documentElement.toggleAttribute('data-busy', inFlight > 0);
}

function url(path, query) {
  const base = path.startsWith('/api/') ? path : '/api/admin' + path;
  const u = new URL(base, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

// request calls the API. opts: body (sent as JSON), form (a FormData sent
// as multipart), query, blob (answer as {blob, filename}), auth (default
// true), signal.
export async function request(method, path, opts = {}) {
  busy(1);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await send(method, path, opts);
      } catch (e) {
        if (!shortRateLimit(e) || attempt >= 2 || /\/login$/.test(path)) throw e;
        await wait(e.retryAfter * 1000, opts.signal);
      }
    }
  } finally {
    busy(-1);
  }
}

// shortRateLimit is the per-address API limit's answer to a burst (a page
// firing its calls at once, several staff behind one office address): a
// 429 to wait out for a second or two, after which the call is sent again
// (a limited call was not carried out, so sending it again is safe). The
// longer waits of the sign-in limit are shown to the user instead.
function shortRateLimit(e) {
  return e instanceof ApiError && e.status === 429 && e.code === 'rate_limited' && e.retryAfter > 0 && e.retryAfter <= 2;
}

function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const t = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new DOMException('aborted', 'AbortError'));
      }, { once: true });
    }
  });
}

async function send(method, path, opts) {
  const headers = { Accept: opts.blob ? '*/*' : 'application/json' };
  const s = session();
  if (opts.auth !== false && s) headers.Authorization = 'Bearer ' + s.token;
  let body;
  if (opts.form !== undefined) {
    body = opts.form; // the browser sets the multipart Content-Type with its boundary
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url(path, opts.query), { method, headers, body, signal: opts.signal, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', fallback[0]);
  }
  if (res.ok) {
    if (res.status === 204) return null;
    if (opts.blob) {
      const cd = res.headers.get('Content-Disposition') || '';
      const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
      return { blob: await res.blob(), filename: m ? decodeURIComponent(m[1]) : 'download' };
    }
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }
  let env = null;
  try {
    env = (await res.json()).error;
  } catch {
    env = null;
  }
  const status = res.status;
  let msg = (env && env.message) || fallback[status] || fallback[500];
  const retryAfter = Number(res.headers.get('Retry-After')) || 0;
  if (status === 429 && retryAfter > 0 && !/分钟|秒/.test(msg)) {
    msg += retryAfter >= 60 ? `（约 ${Math.ceil(retryAfter / 60)} 分钟后可再试）` : `（约 ${retryAfter} 秒后可再试）`;
  }
  const err = new ApiError(status, (env && env.code) || 'http_' + status, msg, env && env.fields, retryAfter);
  if (opts.auth !== false) {
    if (status === 401 && hooks.unauthenticated) hooks.unauthenticated(err);
    if (status === 403 && err.code === 'password_change_required' && hooks.passwordChange) hooks.passwordChange(err);
    else if (status === 403 && hooks.forbidden && path !== '/me') hooks.forbidden(err);
  }
  throw err;
}

export const get = (path, query, opts) => request('GET', path, { ...opts, query });
export const post = (path, body, opts) => request('POST', path, { ...opts, body });
export const put = (path, body, opts) => request('PUT', path, { ...opts, body });
export const patch = (path, body, opts) => request('PATCH', path, { ...opts, body });
export const del = (path, opts) => request('DELETE', path, opts);

// upload posts one file as the multipart part "file".
export function upload(path, file) {
  const fd = new FormData();
  fd.append('file', file, file.name);
  return request('POST', path, { form: fd });
}

// download fetches a file with the token and hands it to the browser as a
// download (a plain link could not carry the Authorization header).
export async function download(path, query, fallbackName) {
  const { blob, filename } = await request('GET', path, { query, blob: true });
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename && filename !== 'download' ? filename : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
  return a.download;
}
