// 提醒: the signed-in staff member's console alerts (crisis messages,
// urgent cases, …; api/notify.go). Any staff member.
import { get, post } from '../js/api.js';
import { h, card, pageHeader, paged, button, action, badge } from '../js/ui.js';
import { time, topicNames, label } from '../js/format.js';

export async function render(main, ctx) {
  const unread = ctx.query.get('unread') === 'true';
  main.append(pageHeader('提醒', '发给您的工作提醒，紧急求助请立即处理',
    h('a', { class: 'btn', href: '/console/alerts' + (unread ? '' : '?unread=true'), dataset: { link: '' } }, unread ? '显示全部' : '只看未读')),
  card(null, paged([
    { label: '时间', value: (a) => time(a.created_at), class: 'nowrap' },
    { label: '类型', value: (a) => h('span', null, label(topicNames, a.topic), a.urgent ? ' ' : '', a.urgent ? badge('紧急', 'err') : null) },
    { label: '内容', value: (a) => Object.values(a.fields || {}).join('；') },
    { label: '状态', value: (a) => (a.read_at ? badge('已读') : badge('未读', 'warn')) },
    { label: '', value: (a) => (a.read_at ? '' : readButton(a, ctx)) },
  ], (cursor) => get('/alerts', { unread: unread ? 'true' : '', cursor, limit: 50 }), '暂无提醒。')));
}

function readButton(a, ctx) {
  const b = button('标为已读', async () => {
    if (await action(b, () => post(`/alerts/${a.id}/read`)) !== undefined) ctx.refresh();
  }, 'btn btn-small');
  return b;
}
