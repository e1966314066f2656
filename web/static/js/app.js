// The console's entry: the page registry (which role sees what), a small
// History-API router under /console, the shell (top bar, navigation) and
// the session flows (sign-in, forced password change, sign-out).
import { onAuthProblem, post, get, ApiError } from './api.js';
import { session, saveSession, clearSession, hasRole, updateStaff } from './session.js';
import { h, clear, link, toast, form, errorBox, loading, BASE, button } from './ui.js';
import { roleNames } from './format.js';

// pages: one module per page under ../pages/; roles as API.md gives them
// (an admin holds every role). figures: the figures pages, which every
// role but caseworker may read (stats.ReaderRoles); a role's home is the
// first other page it may use (an admin's is 概览).
const figureRoles = ['editor', 'reviewer', 'fair_manager'];
export const pages = [
  { prefix: 'overview', title: '概览', roles: figureRoles, module: 'overview', figures: true },
  { prefix: 'campaigns', title: '最美家庭', roles: ['reviewer'], module: 'campaigns' },
  { prefix: 'lessons', title: '微课堂', roles: ['editor'], module: 'lessons' },
  { prefix: 'fairs', title: '招聘会', roles: ['fair_manager'], module: 'fairs' },
  { prefix: 'cases', title: '12338', roles: ['caseworker'], module: 'cases' },
  { prefix: 'articles', title: '文章', roles: ['editor'], module: 'articles' },
  { prefix: 'followers', title: '粉丝与消息', roles: ['editor'], module: 'followers' },
  { prefix: 'pushes', title: '推送', roles: ['editor'], module: 'pushes' },
  { prefix: 'annual', title: '年度报告', roles: figureRoles, module: 'annual', figures: true },
  { prefix: 'audit', title: '审计', roles: ['admin'], module: 'audit' },
  { prefix: 'staff', title: '人员', roles: ['admin'], module: 'staff' },
  { prefix: 'jobs', title: '后台任务', roles: ['admin'], module: 'jobs' },
];

// hidden pages: not in the main navigation (alerts: every signed-in staff
// member; security: the admins' two-step verification, in the account
// links).
const extraPages = [
  { prefix: 'alerts', title: '提醒', roles: [], module: 'alerts' },
  { prefix: 'security', title: '两步验证', roles: ['admin'], module: 'security' },
];

const root = document.getElementById('app');
let shell = null; // {nav, main, user} while signed in
let authNotice = '';

export function navigate(path, replace = false) {
  const url = BASE + (path.startsWith('/') ? path : '/' + path);
  if (replace) history.replaceState(null, '', url);
  else if (location.pathname + location.search !== url) history.pushState(null, '', url);
  route();
}

function homePath() {
  const admin = hasRole(['admin']);
  const p = pages.find((x) => (admin || !x.figures) && hasRole(x.roles)) || pages.find((x) => hasRole(x.roles));
  return p ? '/' + p.prefix : '/alerts';
}

function currentPath() {
  let p = location.pathname;
  if (p.startsWith(BASE)) p = p.slice(BASE.length);
  return p === '' ? '/' : p;
}

// refreshMe reads the account once per page load: roles or the name an
// admin changed since sign-in apply without signing in again.
let meChecked = false;
let meLoading = false;
async function refreshMe() {
  meChecked = true;
  if (meLoading) return;
  meLoading = true;
  try {
    const me = await get('/me');
    const s = session();
    if (!s) return;
    const before = JSON.stringify([s.staff.roles, s.staff.display_name]);
    updateStaff({ roles: me.roles, display_name: me.display_name, must_change_password: me.must_change_password });
    if (JSON.stringify([me.roles, me.display_name]) !== before) route();
  } catch {
    // 401 and 403 password_change_required are handled by the hooks
  } finally {
    meLoading = false;
  }
}

async function route() {
  const path = currentPath();
  const s = session();
  if (path === '/login') return renderLogin();
  if (s && !meChecked && !s.staff.must_change_password) refreshMe();
  if (!s) {
    sessionStorage.setItem('wanjia.console.next', path === '/' ? '' : path + location.search);
    return navigate('/login', true);
  }
  if (s.staff.must_change_password && path !== '/password') return navigate('/password', true);
  if (path === '/' || path === '') return navigate(homePath(), true);
  const [first, ...parts] = path.slice(1).split('/').map(decodeURIComponent);
  if (first === 'password') return renderPassword();
  const page = pages.find((p) => p.prefix === first) || extraPages.find((p) => p.prefix === first);
  ensureShell(page);
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  shell.main.replaceWith(main);
  shell.main = main;
  document.body.classList.remove('nav-open');
  if (!page) {
    document.title = '页面不存在 · 万家工作台';
    clear(main, h('div', { class: 'notice' }, h('strong', null, '页面不存在'), h('p', null, '请从左侧菜单选择要使用的功能。')));
    return;
  }
  document.title = page.title + ' · 万家工作台';
  if (!hasRole(page.roles)) {
    clear(main, h('h1', null, page.title), h('div', { class: 'notice notice-error', role: 'alert' },
      h('strong', null, '没有权限'), h('p', null, '您的角色不能使用「' + page.title + '」。如需使用，请联系管理员分配角色。')));
    return;
  }
  main.append(loading());
  try {
    const mod = await import('../pages/' + page.module + '.js');
    if (shell.main !== main) return; // navigated away meanwhile
    clear(main);
    await mod.render(main, { parts, query: new URLSearchParams(location.search), navigate, page, refresh: route });
  } catch (err) {
    if (shell && shell.main === main) clear(main, errorBox(err, route));
  }
}

function ensureShell(active) {
  const s = session();
  if (!shell) {
    const nav = h('nav', { class: 'sidenav', id: 'sidenav', 'aria-label': '主菜单' });
    const user = h('div', { class: 'user' });
    const menuBtn = h('button', { type: 'button', class: 'menu-toggle', 'aria-controls': 'sidenav', 'aria-label': '菜单',
      onclick: () => document.body.classList.toggle('nav-open') }, '☰');
    const main = h('main', { id: 'main', class: 'main' });
    const top = h('header', { class: 'topbar' }, menuBtn,
      h('a', { class: 'brand', href: BASE + '/', dataset: { link: '' } }, h('span', { class: 'brand-mark' }, '万'), h('span', null, '万家工作台')),
      user);
    clear(root, top, h('div', { class: 'shell' }, nav, main));
    shell = { nav, main, user, count: h('span', { class: 'count', hidden: true }) };
    shell.timer = setInterval(countAlerts, 60000);
  }
  countAlerts();
  const alerts = link('/alerts?unread=true', '提醒', 'top-link alerts-link');
  alerts.append(shell.count);
  clear(shell.user,
    alerts,
    h('span', { class: 'who', title: s.staff.roles.map((r) => roleNames[r] || r).join('、') },
      s.staff.display_name || s.staff.username),
    hasRole(['admin']) ? link('/security', '两步验证', 'top-link security-link') : null,
    link('/password', '修改密码', 'top-link'),
    button('退出', logout, 'btn btn-small btn-ghost logout'));
  clear(shell.nav, pages.filter((p) => hasRole(p.roles)).map((p) => {
    const a = link('/' + p.prefix, p.title, 'nav-item');
    if (active && active.prefix === p.prefix) {
      a.classList.add('active');
      a.setAttribute('aria-current', 'page');
    }
    return a;
  }), h('hr', { class: 'nav-extra' }), link('/alerts', '提醒', 'nav-item nav-extra'),
  hasRole(['admin']) ? link('/security', '两步验证', 'nav-item nav-extra') : null,
  link('/password', '修改密码', 'nav-item nav-extra'));
}

// countAlerts shows how many unread alerts (crisis messages, urgent
// cases) wait for the signed-in staff member; checked on every page change
// and once a minute.
async function countAlerts() {
  const sh = shell;
  if (!sh || !session()) return;
  try {
    const res = await get('/alerts', { unread: 'true', limit: 100 });
    const n = (res.items || []).length;
    sh.count.hidden = n === 0;
    sh.count.textContent = n >= 100 ? '99+' : String(n);
    sh.count.setAttribute('aria-label', n + ' 条未读提醒');
  } catch {
    // the badge is a hint; a failure shows nothing (a 401 signs out through the hook)
  }
}

function dropShell() {
  if (shell) clearInterval(shell.timer);
  shell = null;
}

async function logout() {
  try {
    await post('/logout');
  } catch {
    // the session ends here either way
  }
  clearSession();
  dropShell();
  authNotice = '您已退出登录。';
  navigate('/login');
}

// renderLogin signs in. An account with two-step verification answers
// 401 totp_required to the password alone: the form then shows the
// 动态口令 field (kept for a wrong code, totp_invalid) and sends the code
// with the password.
function renderLogin() {
  dropShell();
  document.title = '登录 · 万家工作台';
  if (session()) return navigate('/', true);
  const notice = authNotice;
  authNotice = '';
  const f = form({
    fields: [
      { name: 'username', label: '用户名', autocomplete: 'username' },
      { name: 'password', label: '密码', type: 'password', autocomplete: 'current-password' },
      { name: 'totp', label: '动态口令', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 6,
        hint: '打开手机上的身份验证器（如 Google Authenticator、Microsoft Authenticator）查看 6 位数字。' },
    ],
    submitLabel: '登录',
    class: 'login-form',
    onSubmit: async (v) => {
      const body = { username: v.username.trim(), password: v.password };
      if (!totpField.hidden && v.totp.trim()) body.totp = v.totp.trim();
      try {
        return await post('/login', body, { auth: false });
      } catch (err) {
        if (err.code === 'totp_required' || err.code === 'totp_invalid') {
          const wasHidden = totpField.hidden;
          totpField.hidden = false;
          f.set('totp', '');
          const msg = err.code === 'totp_invalid' ? err.message : '此账号已开启两步验证，请输入动态口令';
          throw new ApiError(err.status, err.code, wasHidden ? '请输入动态口令后再次登录。' : msg, { totp: msg });
        }
        throw err;
      }
    },
    onSuccess: (res) => {
      saveSession(res);
      meChecked = true; // the login answer is current
      const next = sessionStorage.getItem('wanjia.console.next') || '';
      sessionStorage.removeItem('wanjia.console.next');
      if (res.staff.must_change_password) return navigate('/password', true);
      navigate(next || '/', true);
    },
  });
  const totpField = f.el.querySelector('[data-field=totp]');
  totpField.hidden = true;
  clear(root, h('div', { class: 'login-page' }, h('div', { class: 'login-card' },
    h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark' }, '万'),
      h('div', null, h('h1', null, '万家工作台'), h('p', null, '市妇联 · 工作人员登录'))),
    notice ? h('div', { class: 'notice', role: 'status' }, notice) : null,
    f.el,
    h('p', { class: 'login-foot' }, '连续输错 5 次密码，账号将被锁定 15 分钟。'))));
  const u = f.el.querySelector('input');
  if (u) u.focus();
}

function renderPassword() {
  const s = session();
  const forced = !!s.staff.must_change_password;
  const f = form({
    fields: [
      { name: 'old_password', label: forced ? '初始密码' : '当前密码', type: 'password', autocomplete: 'current-password' },
      { name: 'new_password', label: '新密码', type: 'password', autocomplete: 'new-password', hint: '至少 10 个字符，须同时包含字母和数字，不能与用户名相同。' },
      { name: 'confirm', label: '再次输入新密码', type: 'password', autocomplete: 'new-password' },
    ],
    submitLabel: '修改密码',
    validate: (v) => (v.new_password && v.confirm !== v.new_password ? { confirm: '两次输入的新密码不一致' } : null),
    onSubmit: (v) => post('/password', { old_password: v.old_password, new_password: v.new_password }),
    successMessage: '密码已修改',
    onSuccess: () => {
      updateStaff({ must_change_password: false });
      navigate('/', true);
    },
  });
  const body = [h('h1', null, '修改密码'),
    forced ? h('div', { class: 'notice', role: 'status' }, '首次登录须先修改管理员设置的初始密码，修改后即可使用工作台。') : null,
    h('section', { class: 'card narrow' }, f.el)];
  if (forced) {
    dropShell();
    document.title = '修改密码 · 万家工作台';
    clear(root, h('div', { class: 'login-page' }, h('div', { class: 'login-card wide' }, body,
      button('退出登录', logout, 'btn btn-ghost'))));
  } else {
    ensureShell(null);
    const main = h('main', { id: 'main', class: 'main' });
    shell.main.replaceWith(main);
    shell.main = main;
    document.title = '修改密码 · 万家工作台';
    clear(main, body);
  }
}

onAuthProblem(
  () => {
    if (!session()) return;
    const here = currentPath();
    if (here !== '/login' && here !== '/password') sessionStorage.setItem('wanjia.console.next', here + location.search);
    clearSession();
    dropShell();
    authNotice = '登录已失效，请重新登录。';
    navigate('/login');
  },
  () => {
    updateStaff({ must_change_password: true });
    navigate('/password');
  },
  () => refreshMe(), // a 403: drop the pages the account no longer may use
);

// In-app links: a[data-link] are handled here, not by a page load.
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  e.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search);
});

// On a phone the open menu closes when the page behind it is tapped.
document.addEventListener('click', (e) => {
  if (!document.body.classList.contains('nav-open') || !e.target.closest) return;
  if (!e.target.closest('.sidenav, .menu-toggle')) document.body.classList.remove('nav-open');
});

window.addEventListener('popstate', route);
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason && e.reason.name === 'ApiError') {
    toast(e.reason.message, 'error');
    e.preventDefault();
  }
});

route();
