// 推送: every push of the notification centre with its delivery counts,
// and one push's deliveries (api/notify.go; admin, editor).
import { get } from '../js/api.js';
import { h, clear, card, pageHeader, paged, link, statCards, errorBox, loading, form, badge } from '../js/ui.js';
import { barChart } from '../js/chart.js';
import { time, num, label, topicNames, deliveryStatuses, channelNames } from '../js/format.js';

export async function render(main, ctx) {
  if (ctx.parts[0]) return renderPush(main, ctx, ctx.parts[0]);
  main.append(pageHeader('推送', '课程上新、审核结果、招聘会提醒等通知的送达情况'),
    card('全部推送', paged([
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
    pageHeader(p.title || '推送 #' + p.id, `${label(topicNames, p.topic)} · ${time(p.created_at)}`),
    statCards([{ label: '推送对象', value: num(p.targets) }, ...counts.map(([l, v]) => ({ label: l, value: num(v) })),
      { label: '已读', value: num(p.read) }]),
    h('div', { class: 'grid-2' },
      card('送达结果', barChart({ title: '各状态人数', items: counts.map(([l, v]) => ({ label: l, value: v })) })),
      card('发送渠道', barChart({ title: '各渠道已发送', items: Object.entries(p.channels || {}).map(([k, v]) => ({ label: label(channelNames, k), value: v })) }))),
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
