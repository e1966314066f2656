// The signed-in staff member, kept in sessionStorage: it ends with the tab
// and is never shared with other sites. The token is only ever sent in the
// Authorization header.
const KEY = 'wanjia.console.session';

let current = load();

function load() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (!s || !s.token || !s.staff) return null;
    if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function session() {
  if (current && current.expires_at && Date.parse(current.expires_at) <= Date.now()) clearSession();
  return current;
}

export function saveSession(s) {
  current = { token: s.token, expires_at: s.expires_at, staff: s.staff };
  sessionStorage.setItem(KEY, JSON.stringify(current));
}

export function updateStaff(patch) {
  if (!current) return;
  current.staff = { ...current.staff, ...patch };
  sessionStorage.setItem(KEY, JSON.stringify(current));
}

export function clearSession() {
  current = null;
  sessionStorage.removeItem(KEY);
}

export function roles() {
  return (current && current.staff && current.staff.roles) || [];
}

// hasRole mirrors the server: an admin holds every role; an empty list
// means any signed-in staff member.
export function hasRole(wanted) {
  const have = roles();
  if (!wanted || wanted.length === 0) return have.length > 0 || !!current;
  return have.includes('admin') || wanted.some((r) => have.includes(r));
}
