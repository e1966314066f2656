// 人员: staff accounts, roles, data scope (station, district), disabling and
// password resets (api/accounts.go; admin only).
import { get, post, patch, del } from '../js/api.js';
import { h, card, pageHeader, form, paged, button, badge, dialog, action } from '../js/ui.js';
import { time, roleNames } from '../js/format.js';

const roleOptions = Object.entries(roleNames);

export async function render(main, ctx) {
  const createBox = h('div', { hidden: true });
  const toggle = button('新建账号', () => {
    createBox.hidden = !createBox.hidden;
    if (!createBox.hidden) createBox.querySelector('input').focus();
  }, 'btn btn-primary');
  const f = form({
    fields: [
      { name: 'username', label: '用户名', required: true, hint: '3–32 个小写字母、数字或 _ . -', autocomplete: 'off' },
      { name: 'display_name', label: '姓名' },
      { name: 'password', label: '初始密码', type: 'password', required: true, autocomplete: 'new-password', hint: '至少 10 个字符，含字母和数字' },
      { name: 'roles', label: '角色', type: 'checkboxes', options: roleOptions },
      { name: 'station_id', label: '服务站编号', type: 'number', min: 0, hint: '维权专员只能看到本服务站的案件' },
      { name: 'district', label: '所属区县' },
      { name: 'must_change_password', label: '首次登录须修改密码', type: 'checkbox', value: true },
    ],
    submitLabel: '创建账号',
    onSubmit: (v) => post('/staff', { ...v, station_id: v.station_id || 0 }),
    successMessage: (s) => `账号 ${s.username} 已创建`,
    onSuccess: () => ctx.refresh(),
  });
  createBox.append(card('新建账号', f.el));
  main.append(pageHeader('人员', '工作人员账号、角色与数据范围', toggle), createBox,
    card('全部账号', paged([
      { label: '编号', value: (s) => '#' + s.id, class: 'nowrap' },
      { label: '用户名', value: (s) => s.username },
      { label: '姓名', value: (s) => s.display_name || '—' },
      { label: '角色', value: (s) => s.roles.map((r) => roleNames[r] || r).join('、') },
      { label: '服务站', value: (s) => (s.station_id ? '#' + s.station_id : '—') },
      { label: '区县', value: (s) => s.district || '—' },
      { label: '状态', value: (s) => state(s) },
      { label: '最近登录', value: (s) => time(s.last_login_at) || '—', class: 'nowrap' },
      { label: '', value: (s) => button('编辑', () => edit(s, ctx), 'btn btn-small') },
    ], (cursor) => get('/staff', { cursor, limit: 50 }))));
}

function state(s) {
  if (s.disabled) return badge('已停用', 'err');
  if (s.locked_until && Date.parse(s.locked_until) > Date.now()) return badge('已锁定', 'warn');
  if (s.must_change_password) return badge('待改初始密码', 'info');
  return badge('正常', 'ok');
}

async function edit(s, ctx) {
  const done = await dialog({
    title: '编辑账号 ' + s.username,
    fields: [
      { name: 'display_name', label: '姓名', value: s.display_name },
      { name: 'roles', label: '角色', type: 'checkboxes', options: roleOptions, value: s.roles },
      { name: 'station_id', label: '服务站编号', type: 'number', min: 0, value: s.station_id || '' },
      { name: 'district', label: '所属区县', value: s.district },
      { name: 'disabled', label: '停用此账号（立即退出所有登录）', type: 'checkbox', value: s.disabled },
      { name: 'password', label: '重置密码', type: 'password', autocomplete: 'new-password', hint: '留空则不修改；重置后此账号的登录会全部失效' },
      s.roles.includes('admin') ? totpReset(s) : null,
    ].filter(Boolean),
    submitLabel: '保存',
    onSubmit: (v) => {
      const body = { display_name: v.display_name, roles: v.roles, station_id: v.station_id || 0, district: v.district, disabled: v.disabled };
      if (v.password) body.password = v.password;
      return patch('/staff/' + s.id, body);
    },
    successMessage: '已保存',
  });
  if (done) ctx.refresh();
}

// totpReset turns off an admin's two-step verification (a lost phone);
// one's own cannot be reset (409 cannot_reset_self).
function totpReset(s) {
  const b = button('重置两步验证', () => action(b, () => del(`/staff/${s.id}/totp`), '已重置，对方下次登录后可重新设置'), 'btn btn-small btn-danger');
  return h('div', { class: 'field full', dataset: { skip: '' } }, h('label', null, '两步验证'), b,
    h('p', { class: 'hint' }, '手机丢失或更换时使用；重置后对方登录只需密码，须尽快重新设置。'));
}
