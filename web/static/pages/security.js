// 两步验证: an admin's TOTP second factor (api/totp.go): the status, the
// enrolment (the otpauth URL as text and as the QR code the server draws)
// and the confirmation with a first code. Resetting a lost phone is
// another admin's job (人员 → 编辑 → 重置两步验证).
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, form, loading, errorBox, button, action, badge } from '../js/ui.js';

// qrSource accepts only the PNG data URL the enrolment answers with.
function qrSource(u) {
  return typeof u === 'string' && /^data:image\/png;base64,[A-Za-z0-9+/=]+$/.test(u) ? u : '';
}

export async function render(main, ctx) {
  const box = h('div', null, loading());
  main.append(pageHeader('两步验证', '登录时除密码外，还须输入手机身份验证器上的动态口令'), box);
  let st;
  try {
    st = await get('/totp');
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  if (st.enabled) {
    clear(box, card('状态', h('p', null, badge('已开启', 'ok'), ' 登录时须输入动态口令。'),
      h('p', { class: 'muted small' }, '手机丢失或更换时，请联系另一位管理员在“人员”中为您重置两步验证，然后重新设置。')));
    return;
  }
  const setup = h('div');
  const start = button(st.pending ? '重新获取二维码' : '开始设置', async () => {
    const en = await action(start, () => post('/totp/enrol'));
    if (en) showEnrolment(en);
  }, 'btn btn-primary start-totp');
  clear(box, card('状态', h('p', null, badge(st.pending ? '设置未完成' : '未开启', 'warn'),
    st.pending ? ' 已获取二维码但尚未确认。' : ' 建议管理员开启两步验证，防止密码泄露后账号被盗用。'),
  h('ol', { class: 'steps small' },
    h('li', null, '在手机上安装身份验证器 App（如 Google Authenticator、Microsoft Authenticator、腾讯身份验证器）。'),
    h('li', null, '点击“开始设置”，用 App 扫描二维码，或手动输入密钥。'),
    h('li', null, '输入 App 显示的 6 位动态口令完成确认。')),
  start), setup);

  function showEnrolment(en) {
    const qr = qrSource(en.qr_png);
    const confirmForm = form({
      class: 'inline-form',
      fields: [{ name: 'code', label: '动态口令', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, placeholder: '6 位数字' }],
      submitLabel: '确认开启',
      validate: (v) => (/^\d{6}$/.test(v.code.trim()) ? null : { code: '请输入 App 显示的 6 位数字' }),
      onSubmit: (v) => post('/totp/confirm', { code: v.code.trim() }),
      successMessage: '两步验证已开启，下次登录时须输入动态口令',
      onSuccess: () => ctx.refresh(),
    });
    clear(setup, card('扫描二维码',
      h('div', { class: 'totp-enrol' },
        qr ? h('img', { src: qr, alt: '两步验证二维码', class: 'totp-qr', width: 200, height: 200 }) : null,
        h('dl', { class: 'kv' },
          h('dt', null, '密钥'), h('dd', null, h('code', { class: 'totp-secret' }, en.secret)),
          h('dt', null, '链接'), h('dd', null, h('code', { class: 'totp-url' }, en.otpauth_url)))),
      h('p', { class: 'muted small' }, '二维码和密钥只显示这一次，请勿截图或转发。'),
      confirmForm.el));
    confirmForm.el.querySelector('input').focus();
  }
}
