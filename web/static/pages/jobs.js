// 后台任务: the background queues (pushes, reminders, sync, sweeps) and the
// tasks that failed for good, with a retry (api/jobs.go; admin only).
import { get, post } from '../js/api.js';
import { h, clear, card, pageHeader, table, loading, errorBox, button, action, badge } from '../js/ui.js';
import { time, num } from '../js/format.js';

export async function render(main, ctx) {
  const queues = h('div', null, loading());
  const dead = h('div', null, loading());
  main.append(pageHeader('后台任务', '推送、提醒、数据同步等后台任务的队列状态', button('刷新', () => ctx.refresh(), 'btn')),
    card('队列', queues), card('失败的任务', h('p', { class: 'muted small' }, '多次重试仍失败的任务。排除原因后可以重新执行；重新执行会记入审计日志。'), dead));
  get('/jobs').then((r) => clear(queues, table([
    { label: '队列', value: (q) => q.queue },
    { label: '等待', value: (q) => num(q.pending), class: 'num' },
    { label: '执行中', value: (q) => num(q.active), class: 'num' },
    { label: '定时', value: (q) => num(q.scheduled), class: 'num' },
    { label: '重试中', value: (q) => num(q.retry), class: 'num' },
    { label: '失败', value: (q) => (q.dead ? badge(num(q.dead), 'err') : '0'), class: 'num' },
    { label: '已完成', value: (q) => num(q.completed), class: 'num' },
    { label: '状态', value: (q) => (q.paused ? badge('已暂停', 'warn') : badge('运行中', 'ok')) },
  ], r.items, '暂无队列。')), (err) => clear(queues, errorBox(err, () => ctx.refresh())));
  try {
    const r = await get('/jobs/dead', { limit: 100 });
    clear(dead, table([
      { label: '失败时间', value: (d) => time(d.failed_at), class: 'nowrap' },
      { label: '队列', value: (d) => d.queue },
      { label: '类型', value: (d) => d.type },
      { label: '重试次数', value: (d) => `${d.retried} / ${d.max_retry}`, class: 'num' },
      { label: '错误', value: (d) => h('span', { class: 'last-error' }, d.last_error) },
      { label: '', value: (d) => retryButton(d, ctx) },
    ], r.items, '没有失败的任务。'));
  } catch (err) {
    clear(dead, errorBox(err, () => ctx.refresh()));
  }
}

function retryButton(d, ctx) {
  const b = button('重新执行', async () => {
    const path = `/jobs/dead/${encodeURIComponent(d.queue)}/${encodeURIComponent(d.id)}/retry`;
    if (await action(b, () => post(path), '已重新执行') !== undefined) ctx.refresh();
  }, 'btn btn-small');
  return b;
}
