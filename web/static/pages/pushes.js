// 推送: every push of the notification centre with its delivery counts,
// and one push's deliveries (api/notify.go; admin, editor).
import { get, put, post } from '../js/api.js';
import { h, clear, card, pageHeader, paged, link, statCards, errorBox, loading, form, badge, tabs, table, field, button, dialog } from '../js/ui.js';
import { hbarChart } from '../js/chart.js';
import { time, num, percent, label, topicNames, deliveryStatuses, channelNames } from '../js/format.js';

export async function render(main, ctx) {
  const templates = ctx.parts[0] === 'templates';
  if (ctx.parts[0] && !templates) return renderPush(main, ctx, ctx.parts[0]);
  main.append(pageHeader('推送', '课程上新、审核结果、招聘会提醒等通知的送达情况'),
    tabs([{ label: '推送记录', path: '/pushes', active: !templates }, { label: '通知模板', path: '/pushes/templates', active: templates }]));
  if (templates) return renderTemplates(main, ctx);
  main.append(card('全部推送', paged([
      { label: '标题', value: (p) => link('/pushes/' + p.id, p.title || '（无标题）') },
      { label: '类型', value: (p) => label(topicNames, p.topic) },
      { label: '时间', value: (p) => time(p.created_at), class: 'nowrap' },
      { label: '对象', value: (p) => num(p.targets), class: 'num' },
      { label: '已发送', value: (p) => num(p.sent), class: 'num' },
      { label: '失败', value: (p) => num(p.failed), class: 'num' },
      { label: '未授权', value: (p) => num(p.no_consent), class: 'num' },
      { label: '无渠道', value: (p) => num(p.no_channel), class: 'num' },
      { label: '待发送', value: (p) => num(p.pending), class: 'num' },
      { label: '已读', value: (p) => num(p.read), class: 'num' },
    ], (cursor) => get('/pushes', { cursor, limit: 50 }), '暂无推送。')));
}

async function renderPush(main, ctx, id) {
  main.append(loading());
  let p;
  try {
    p = await get('/pushes/' + encodeURIComponent(id));
  } catch (err) {
    clear(main, link('/pushes', '← 返回推送列表'), errorBox(err, () => ctx.refresh()));
    return;
  }
  const deliveries = h('div');
  const f = form({
    class: 'inline-form',
    fields: [{ name: 'status', label: '送达状态', type: 'select', options: [['', '全部'], ...Object.entries(deliveryStatuses)] }],
    submitLabel: '筛选',
    onSubmit: async (v) => show(v.status),
  });
  const counts = [
    ['已发送', p.sent], ['失败', p.failed], ['未授权', p.no_consent], ['无渠道', p.no_channel], ['已跳过', p.skipped], ['待发送', p.pending],
  ];
  clear(main, link('/pushes', '← 返回推送列表'),
    pageHeader(p.title || '推送 #' + p.id, `${label(topicNames, p.topic)} · ${time(p.created_at)}`, stopButton(p, ctx)),
    p.cancelled_at ? h('div', { class: 'notice notice-warn push-cancelled' },
      `已于 ${time(p.cancelled_at)} 停止推送（微课下架或编辑停止）：此前未发出的通知不再发送，记为“已跳过”。`) : null,
    statCards([{ label: '推送对象', value: num(p.targets) }, ...counts.map(([l, v]) => ({ label: l, value: num(v) })),
      { label: '已读', value: num(p.read) }]),
    h('div', { class: 'grid-2' },
      card('送达结果', hbarChart({ title: '各状态人数', items: counts.map(([l, v]) => ({ label: l, value: v })) })),
      card('发送渠道', Object.keys(p.channels || {}).length
        ? hbarChart({ title: '各渠道已发送', items: Object.entries(p.channels).map(([k, v]) => ({ label: label(channelNames, k), value: v })) })
        : h('p', { class: 'empty' }, '还没有通过任何渠道发出。'))),
    p.lesson ? lessonCard(p.lesson) : null,
    card('送达明细', f.el, deliveries));

  function show(status) {
    clear(deliveries, paged([
      { label: '编号', value: (d) => '#' + d.id },
      { label: '接收人', value: (d) => (d.user_id ? '用户 #' + d.user_id : d.staff_id ? '工作人员 #' + d.staff_id : d.openid) },
      { label: '渠道', value: (d) => label(channelNames, d.channel) || '—' },
      { label: '状态', value: (d) => badge(label(deliveryStatuses, d.status), d.status === 'sent' ? 'ok' : d.status === 'failed' ? 'err' : '') },
      { label: '尝试', value: (d) => num(d.attempts), class: 'num' },
      { label: '错误', value: (d) => (d.errcode ? `${d.errcode} ${d.error || ''}` : d.error || '') },
      { label: '发送时间', value: (d) => time(d.sent_at) || '—', class: 'nowrap' },
    ], (cursor) => get('/deliveries', { push_id: p.id, status, cursor, limit: 50 }), '没有符合条件的送达记录。'));
  }
  show('');
}

// stopButton: a lesson's push still going out can be stopped without
// taking the lesson down (POST /pushes/:id/stop, editor; a reason).
function stopButton(p, ctx) {
  if (!p.lesson || p.cancelled_at || (p.pending === 0 && p.lesson.figures && p.lesson.figures.push_done)) return null;
  return button('停止推送', async () => {
    const done = await dialog({
      title: '停止推送', danger: true, submitLabel: '停止',
      message: '尚未发出的上新通知不再发送（记为“已跳过”），已发出的无法撤回；课时本身保持发布，不会再次推送。',
      fields: [{ name: 'reason', label: '停止原因', type: 'textarea', rows: 2, required: true, maxlength: 200, hint: '必填，记入审计日志' }],
      onSubmit: (v) => post(`/pushes/${p.id}/stop`, { reason: v.reason || '' }),
      successMessage: (r) => `已停止推送，${num(r.notices_skipped)} 条通知不再发送`,
    });
    if (done) ctx.refresh();
  }, 'btn btn-danger stop-push');
}

// lessonCard: the lesson a push announced, with its learners (GET
// /pushes/:id answers "lesson" for a lesson's push).
function lessonCard(l) {
  const f = l.figures || {};
  return card('微课：' + l.title,
    statCards([
      { label: '推送时订阅', value: num(f.subscribers) }, { label: '已通知', value: num(f.notified) },
      { label: '通知后打开', value: num(f.opened) }, { label: '学习人数', value: num(f.started) },
      { label: '学完人数', value: num(f.completed) }, { label: '完成率', value: percent(f.completion_rate) },
    ]),
    h('p', null, link('/lessons/' + l.id, '查看课时'), ' · ', link('/lessons/courses/' + l.course_id, '查看课程')));
}

// --- notification templates ---

// renderTemplates lists the template of each topic: the MP subscribe
// message and OA template message ids with their fields, and the console
// text; each is edited in a dialog (PUT /notify/templates with one item).
async function renderTemplates(main, ctx) {
  const box = h('div', null, loading());
  main.append(card('通知模板', h('p', { class: 'muted small' },
    '每类通知对应小程序订阅消息和公众号模板消息的模板 id 及字段；未配置模板 id 的渠道不会发送。'), box));
  try {
    const res = await get('/notify/templates');
    clear(box, table([
      { label: '通知', value: (t) => h('span', null, t.name, h('br'), h('span', { class: 'muted small' }, t.topic)) },
      { label: '小程序模板', value: (t) => t.mp_template_id || '—' },
      { label: '公众号模板', value: (t) => t.oa_template_id || '—' },
      { label: '长期订阅', value: (t) => (t.long_term ? '是' : '否') },
      { label: '状态', value: (t) => (t.enabled ? badge('启用', 'ok') : badge('停用')) },
      { label: '', value: (t) => button('编辑', () => editTemplate(t, ctx), 'btn btn-small') },
    ], res.items, '暂无通知模板。'));
  } catch (err) {
    clear(box, errorBox(err, () => ctx.refresh()));
  }
}

const P = 'items[0].';

// fieldRows edits a template's fields ([{key, field, default}]) as rows
// whose inputs are named like the API's error keys
// ("items[0].mp_fields[1].key"), so each error lands beside its input.
function fieldRows(kind, rows, label) {
  const list = h('div');
  const wrap = h('div', { class: 'field full', dataset: { field: P + kind, skip: '' } },
    h('label', null, label), h('p', { class: 'field-error' }), list);
  let n = 0;
  const add = (r = {}) => {
    const i = n++;
    const row = h('div', { class: 'form-grid template-row' },
      field({ name: `${P}${kind}[${i}].key`, label: '模板字段', value: r.key, placeholder: kind === 'oa_fields' ? 'keyword1' : 'thing1' }),
      field({ name: `${P}${kind}[${i}].field`, label: '取值', value: r.field, placeholder: 'title' }),
      field({ name: `${P}${kind}[${i}].default`, label: '默认值', value: r.default }));
    row.append(button('删除', () => row.remove(), 'btn btn-small btn-ghost'));
    list.append(row);
  };
  (rows || []).forEach(add);
  wrap.append(button('添加字段', () => add(), 'btn btn-small'));
  return wrap;
}

function collectRows(values, kind) {
  const rows = {};
  for (const [k, v] of Object.entries(values)) {
    const m = new RegExp('^items\\[0\\]\\.' + kind + '\\[(\\d+)\\]\\.(key|field|default)$').exec(k);
    if (m) (rows[m[1]] = rows[m[1]] || {})[m[2]] = v;
  }
  return Object.keys(rows).map(Number).sort((a, b) => a - b).map((i) => rows[i])
    .filter((r) => r.key || r.field || r.default);
}

async function editTemplate(t, ctx) {
  const saved = await dialog({
    title: '编辑通知模板：' + t.name,
    fields: [
      { name: P + 'name', label: '名称', value: t.name },
      { name: P + 'enabled', label: '启用', type: 'checkbox', value: t.enabled },
      { name: P + 'long_term', label: '长期订阅（政务民生类小程序）', type: 'checkbox', value: t.long_term },
      { name: P + 'text', label: '工作台提醒文字', type: 'textarea', rows: 2, value: t.text },
      { name: P + 'mp_template_id', label: '小程序订阅消息模板 id', value: t.mp_template_id },
      fieldRows('mp_fields', t.mp_fields, '小程序模板字段'),
      { name: P + 'oa_template_id', label: '公众号模板消息 id', value: t.oa_template_id },
      fieldRows('oa_fields', t.oa_fields, '公众号模板字段'),
    ],
    submitLabel: '保存',
    onSubmit: (v) => put('/notify/templates', { items: [{
      topic: t.topic, name: v[P + 'name'], enabled: v[P + 'enabled'], long_term: v[P + 'long_term'], text: v[P + 'text'],
      mp_template_id: v[P + 'mp_template_id'], mp_fields: collectRows(v, 'mp_fields'),
      oa_template_id: v[P + 'oa_template_id'], oa_fields: collectRows(v, 'oa_fields'),
    }] }),
    successMessage: '通知模板已保存',
  });
  if (saved) ctx.refresh();
}
