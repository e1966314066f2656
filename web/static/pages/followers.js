// 粉丝与消息: followers of the Official Account, the message log,
// auto-replies, the custom menu and crisis words (api/gateway_admin.go,
// api/messages.go; admin, editor).
import { get, post, put, patch, del } from '../js/api.js';
import {
  h, clear, card, pageHeader, paged, tabs, form, field, table, errorBox, loading, button, action, badge, dialog,
  toast, showErrors, clearErrors,
} from '../js/ui.js';
import { time, label, matchTypes, keywordModes, replyKinds } from '../js/format.js';
import { hasRole } from '../js/session.js';

const sections = [
  { key: '', label: '粉丝', render: renderFollowers },
  { key: 'messages', label: '消息记录', render: renderMessages },
  { key: 'replies', label: '自动回复', render: renderReplies },
  { key: 'menu', label: '自定义菜单', render: renderMenu },
  { key: 'crisis', label: '危机词', render: renderCrisis },
];

export async function render(main, ctx) {
  const key = ctx.parts[0] || '';
  const sec = sections.find((s) => s.key === key) || sections[0];
  main.append(pageHeader('粉丝与消息', '公众号粉丝、收到的消息、自动回复与菜单'),
    tabs(sections.map((s) => ({ label: s.label, path: '/followers' + (s.key ? '/' + s.key : ''), active: s === sec }))));
  await sec.render(main, ctx);
}

function renderFollowers(main) {
  const list = h('div');
  const f = form({
    class: 'inline-form',
    fields: [{ name: 'subscribed', label: '关注状态', type: 'select', options: [['', '全部'], ['true', '关注中'], ['false', '已取消关注']] }],
    submitLabel: '筛选',
    onSubmit: async (v) => show(v),
  });
  const show = (v) => clear(list, paged([
    { label: 'OpenID', value: (x) => x.openid },
    { label: '状态', value: (x) => (x.subscribed ? badge('关注中', 'ok') : badge('已取消')) },
    { label: '关注时间', value: (x) => time(x.subscribed_at) || '—', class: 'nowrap' },
    { label: '来源场景', value: (x) => x.scene || '—' },
    { label: '小程序用户', value: (x) => (x.user_id ? '#' + x.user_id : '—') },
    { label: '最近互动', value: (x) => time(x.last_active_at) || '—', class: 'nowrap' },
  ], (cursor) => get('/followers', { ...v, cursor, limit: 50 }), '暂无粉丝。'));
  main.append(card(null, f.el), card('粉丝列表', list));
  show({});
}

function renderMessages(main) {
  const list = h('div');
  const f = form({
    fields: [
      { name: 'app', label: '来源', type: 'select', options: [['', '全部'], ['oa', '公众号'], ['mp', '小程序']] },
      { name: 'type', label: '消息类型', placeholder: '如 text、event' },
      { name: 'openid', label: 'OpenID' },
      { name: 'from', label: '起始日期', type: 'date' },
      { name: 'to', label: '截止日期', type: 'date' },
      { name: 'crisis', label: '只看含危机词的消息', type: 'checkbox' },
    ],
    submitLabel: '查询',
    onSubmit: async (v) => show({ ...v, crisis: v.crisis ? 'true' : '' }),
  });
  const show = (v) => clear(list, paged([
    { label: '时间', value: (m) => time(m.received_at), class: 'nowrap' },
    { label: '来源', value: (m) => (m.app === 'mp' ? '小程序' : '公众号') },
    { label: 'OpenID', value: (m) => m.openid },
    { label: '类型', value: (m) => [m.msg_type, m.event, m.event_key].filter(Boolean).join(' / ') },
    { label: '内容', value: (m) => h('span', { class: 'story' }, m.content, m.crisis ? ' ' : '', m.crisis ? badge('危机词', 'err') : null) },
  ], (cursor) => get('/messages', { ...v, cursor, limit: 50 }).catch((err) => {
    if (err.fields) f.showErrors(err);
    throw err;
  }), '没有符合条件的消息。'));
  main.append(card(null, f.el), card('消息记录', list));
  show({});
}

// --- auto-replies ---

function ruleFields(r = {}) {
  const rep = r.reply || { kind: 'text' };
  const art = (rep.articles && rep.articles[0]) || {};
  return [
    { name: 'name', label: '规则名称', value: r.name },
    { name: 'match', label: '触发方式', type: 'select', options: Object.entries(matchTypes), value: r.match || 'keyword' },
    { name: 'mode', label: '匹配方式', type: 'select', options: Object.entries(keywordModes), value: r.mode || 'contains' },
    { name: 'keywords', label: '关键词 / 消息类型 / 菜单 key', type: 'textarea', rows: 2, value: (r.keywords || []).join('\n'), hint: '每行一个' },
    { name: 'priority', label: '优先级', type: 'number', value: r.priority ?? 0, hint: '数字越大越先匹配' },
    { name: 'enabled', label: '启用', type: 'checkbox', value: r.enabled ?? true },
    { name: 'reply.kind', label: '回复类型', type: 'select', options: Object.entries(replyKinds), value: rep.kind || 'text' },
    { name: 'reply.text', label: '回复文字', type: 'textarea', rows: 3, value: rep.text },
    { name: 'reply.media_id', label: '图片素材 media_id', value: rep.media_id },
    { name: 'reply.articles', label: '图文标题', value: art.title },
    { name: 'article_description', label: '图文摘要', value: art.description },
    { name: 'article_url', label: '图文链接', value: art.url, placeholder: 'https://' },
    { name: 'article_pic_url', label: '图文封面图链接', value: art.pic_url, placeholder: 'https://' },
    { name: 'provider', label: '动态回复来源', value: r.provider, hint: '可留空；如 lessons、fairs、campaign' },
  ];
}

function ruleBody(v) {
  const kind = v['reply.kind'];
  const reply = { kind };
  if (kind === 'text') reply.text = v['reply.text'];
  if (kind === 'image') reply.media_id = v['reply.media_id'];
  if (kind === 'news') {
    reply.articles = [{ title: v['reply.articles'], description: v.article_description, url: v.article_url, pic_url: v.article_pic_url }];
  }
  return {
    name: v.name, match: v.match, mode: v.match === 'keyword' ? v.mode : '',
    keywords: (v.keywords || '').split('\n').map((k) => k.trim()).filter(Boolean),
    priority: v.priority ?? 0, enabled: v.enabled, reply, provider: v.provider,
  };
}

// showRelevant hides the inputs that the chosen match type and reply kind
// do not use.
function showRelevant(root) {
  const val = (n) => root.querySelector(`[data-field="${n}"] select`).value;
  const match = val('match');
  const kind = val('reply.kind');
  const vis = {
    mode: match === 'keyword', keywords: ['keyword', 'msgtype', 'click'].includes(match),
    'reply.text': kind === 'text', 'reply.media_id': kind === 'image',
    'reply.articles': kind === 'news', article_description: kind === 'news', article_url: kind === 'news', article_pic_url: kind === 'news',
  };
  for (const [k, v] of Object.entries(vis)) root.querySelector(`[data-field="${k}"]`).hidden = !v;
}

function wireRuleForm(root) {
  showRelevant(root);
  root.addEventListener('change', (e) => {
    if (e.target.name === 'match' || e.target.name === 'reply.kind') showRelevant(root);
  });
}

const ruleNames = { 'reply.articles': '图文', 'reply.kind': '回复类型', keywords: '关键词' };

async function renderReplies(main, ctx) {
  const createBox = h('div', { hidden: true });
  const f = form({
    fields: ruleFields(), names: ruleNames, submitLabel: '添加规则',
    onSubmit: (v) => post('/replies', ruleBody(v)), successMessage: '自动回复规则已添加', onSuccess: () => ctx.refresh(),
  });
  wireRuleForm(f.el);
  createBox.append(card('新建自动回复', f.el));
  const list = h('div', null, loading());
  main.append(h('div', { class: 'actions' }, button('新建规则', () => { createBox.hidden = !createBox.hidden; }, 'btn btn-primary')),
    h('p'), createBox, card('自动回复规则', list));
  try {
    const res = await get('/replies');
    clear(list, table([
      { label: '名称', value: (r) => r.name },
      { label: '触发', value: (r) => label(matchTypes, r.match) + (r.match === 'keyword' ? '（' + label(keywordModes, r.mode) + '）' : '') },
      { label: '关键词', value: (r) => r.keywords.join('、') || '—' },
      { label: '回复', value: (r) => replyText(r.reply) },
      { label: '优先级', value: (r) => String(r.priority), class: 'num' },
      { label: '状态', value: (r) => (r.enabled ? badge('启用', 'ok') : badge('停用')) },
      { label: '', value: (r) => h('div', { class: 'row' }, button('编辑', () => editRule(r, ctx), 'btn btn-small'), deleteRuleButton(r, ctx)) },
    ], res.items, '还没有自动回复规则。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

function replyText(rep) {
  if (!rep) return '';
  if (rep.kind === 'text') return rep.text;
  if (rep.kind === 'image') return '图片 ' + rep.media_id;
  return '图文：' + ((rep.articles && rep.articles[0] && rep.articles[0].title) || '');
}

async function editRule(r, ctx) {
  const dlgPromise = dialog({
    title: '编辑自动回复', fields: ruleFields(r), submitLabel: '保存',
    onSubmit: (v) => patch('/replies/' + r.id, ruleBody(v)), successMessage: '已保存',
  });
  const dlg = document.querySelector('dialog.dialog:last-of-type');
  if (dlg) wireRuleForm(dlg.querySelector('form'));
  if (await dlgPromise) ctx.refresh();
}

function deleteRuleButton(r, ctx) {
  return button('删除', async () => {
    const ok = await dialog({
      title: '删除自动回复', message: `确定删除规则“${r.name}”？删除后不可恢复。`, submitLabel: '删除', danger: true,
      onSubmit: () => del('/replies/' + r.id), successMessage: '已删除',
    });
    if (ok) ctx.refresh();
  }, 'btn btn-small btn-danger');
}

// --- custom menu ---

const buttonTypes = [
  ['click', '点击推事件（key）'], ['view', '跳转网页（url）'], ['miniprogram', '跳转小程序'], ['article_id', '已发布的图文'],
  ['media_id', '素材（media_id）'], ['scancode_push', '扫码推事件'], ['scancode_waitmsg', '扫码等待消息'],
  ['pic_sysphoto', '拍照发图'], ['pic_photo_or_album', '拍照或相册发图'], ['pic_weixin', '微信相册发图'],
  ['location_select', '发送位置'], ['view_limited', '图文消息（media_id）'], ['article_view_limited', '图文详情（article_id）'],
];
const typeFields = {
  click: ['key'], scancode_push: ['key'], scancode_waitmsg: ['key'], pic_sysphoto: ['key'], pic_photo_or_album: ['key'],
  pic_weixin: ['key'], location_select: ['key'], view: ['url'], miniprogram: ['appid', 'pagepath', 'url'],
  media_id: ['media_id'], view_limited: ['media_id'], article_id: ['article_id'], article_view_limited: ['article_id'],
};
const valueLabels = { key: '事件 key', url: '网页地址', appid: '小程序 AppID', pagepath: '小程序页面路径', media_id: 'media_id', article_id: 'article_id' };

async function renderMenu(main, ctx) {
  const box = h('div', null, loading());
  main.append(box);
  let menu;
  try {
    menu = await get('/menu');
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const state = JSON.parse(JSON.stringify(menu.button || []));
  const status = h('p', { class: 'muted' });
  const editor = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-banner', role: 'alert' }));
  const groups = h('div');
  editor.append(groups);
  let saved = menu;
  let dirty = false;
  const setStatus = (m) => {
    saved = m;
    clear(status, `当前版本 ${m.revision || 0}`, ' ',
      m.published ? badge('已发布到公众号', 'ok') : badge(m.revision ? '有未发布的修改' : '尚未保存', 'warn'),
      dirty ? badge('有未保存的修改', 'warn') : null,
      m.published_at ? `（发布于 ${time(m.published_at)}）` : '');
  };
  setStatus(menu);
  const touched = () => {
    if (!dirty) { dirty = true; setStatus(saved); }
  };
  editor.addEventListener('input', touched);
  editor.addEventListener('click', (e) => { if (e.target.closest('button[type=button]:not(.publish)')) touched(); });

  function leafFields(b, path) {
    const out = [];
    const type = field({ name: path + '.type', label: '类型', type: 'select', options: buttonTypes, value: b.type || 'click' });
    type.querySelector('select').addEventListener('change', (e) => { b.type = e.target.value; draw(); });
    if (!b.type) b.type = 'click';
    out.push(type);
    for (const k of typeFields[b.type] || []) {
      const f = field({ name: path + '.' + k, label: k === 'url' && b.type === 'miniprogram' ? '备用网页地址' : valueLabels[k], value: b[k] || '' });
      f.querySelector('input').addEventListener('input', (e) => { b[k] = e.target.value; });
      out.push(f);
    }
    return out;
  }

  function nameField(b, path, hint) {
    const f = field({ name: path + '.name', label: '名称', value: b.name || '', hint });
    f.querySelector('input').addEventListener('input', (e) => { b.name = e.target.value; });
    return f;
  }

  function draw() {
    clear(groups, state.map((b, i) => {
      const path = `button[${i}]`;
      const hasSubs = Array.isArray(b.sub_button) && b.sub_button.length > 0;
      const toggle = h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: hasSubs, onchange: (e) => {
        if (e.target.checked) { b.sub_button = [{ name: '', type: 'click' }]; delete b.type; } else { delete b.sub_button; b.type = 'click'; }
        draw();
      } }), '包含子菜单');
      const body = hasSubs
        ? h('div', null, b.sub_button.map((sb, j) => h('div', { class: 'menu-sub' },
          h('div', { class: 'form-grid' }, nameField(sb, `${path}.sub_button[${j}]`, '不超过 60 字节（约 20 个汉字）'), leafFields(sb, `${path}.sub_button[${j}]`)),
          button('删除此子菜单', () => { b.sub_button.splice(j, 1); if (!b.sub_button.length) { delete b.sub_button; b.type = 'click'; } draw(); }, 'btn btn-small btn-ghost'))),
        b.sub_button.length < 5 ? button('添加子菜单', () => { b.sub_button.push({ name: '', type: 'click' }); draw(); }, 'btn btn-small') : null,
        field({ name: path + '.sub_button', label: '' }))
        : h('div', { class: 'form-grid' }, leafFields(b, path));
      const sub = body.querySelector(`[data-field="${path}.sub_button"]`);
      if (sub) { sub.querySelector('input').remove(); sub.querySelector('label').remove(); sub.dataset.skip = ''; }
      return h('fieldset', { class: 'menu-group' }, h('legend', null, `一级菜单 ${i + 1}`),
        h('div', { class: 'form-grid' }, nameField(b, path, '不超过 16 字节（约 5 个汉字）')), toggle, body,
        button('删除此菜单', () => { state.splice(i, 1); draw(); }, 'btn btn-small btn-ghost'));
    }), state.length < 3 ? button('添加一级菜单', () => { state.push({ name: '', type: 'click' }); draw(); }, 'btn') : null,
    field({ name: 'button', label: '' }));
    const top = groups.querySelector('[data-field="button"]');
    top.querySelector('input').remove(); top.querySelector('label').remove();
  }
  draw();

  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, '保存菜单');
  const publish = button('发布到公众号', async () => {
    if (dirty) {
      toast('菜单有未保存的修改，请先保存再发布', 'error');
      return;
    }
    const m = await action(publish, () => post('/menu/publish'), '菜单已发布');
    if (m) setStatus(m);
  }, 'btn publish');
  editor.append(h('div', { class: 'form-actions' }, save, publish));
  editor.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const m = await put('/menu', { button: state });
      dirty = false;
      clearErrors(editor);
      toast('菜单已保存，发布后公众号才会显示新菜单');
      setStatus(m);
    } catch (err) {
      showErrors(editor, err);
      if (!err.fields) toast(err.message, 'error');
    } finally {
      save.disabled = false;
    }
  });
  clear(box, card('自定义菜单', status, h('p', { class: 'muted small' }, '最多 3 个一级菜单，每个最多 5 个子菜单。先保存，再发布到公众号。'), editor));
}

// --- crisis words ---

async function renderCrisis(main, ctx) {
  const box = h('div', null, loading());
  main.append(box);
  let set;
  try {
    set = await get('/crisis-words');
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
    return;
  }
  const admin = hasRole(['admin']);
  const fields = [{ name: 'words', label: '危机词', type: 'textarea', rows: 8, value: (set.words || []).join('\n'), hint: '每行一个。消息含有这些词时，立即回复 110 / 12338 求助指引，并提醒值班人员。' }];
  if (admin) fields.push({ name: 'alert_staff_ids', label: '提醒的工作人员编号', value: (set.alert_staff_ids || []).join(','), hint: '用逗号分隔；留空则提醒全部管理员和维权专员' });
  const f = form({
    fields, submitLabel: '保存',
    onSubmit: (v) => {
      const body = { words: v.words.split('\n').map((w) => w.trim()).filter(Boolean) };
      if (admin) body.alert_staff_ids = v.alert_staff_ids.split(/[,，\s]+/).filter(Boolean).map(Number);
      return put('/crisis-words', body);
    },
    validate: (v) => (admin && v.alert_staff_ids.split(/[,，\s]+/).filter(Boolean).some((x) => !/^\d+$/.test(x)) ? { alert_staff_ids: '须为数字编号，用逗号分隔' } : null),
    successMessage: '危机词已保存',
  });
  clear(box, card('危机词', set.updated_at ? h('p', { class: 'muted small' }, '最近修改：' + time(set.updated_at)) : h('p', { class: 'muted small' }, '当前使用系统默认危机词。'), f.el));
}

