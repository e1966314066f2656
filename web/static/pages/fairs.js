// 招聘会: fairs, positions, signups, check-in by code, .xlsx export,
// placements and figures (api/fairs.go; role fair_manager).
import { get, post, download } from '../js/api.js';
import { h, clear, card, pageHeader, table, form, link, statCards, errorBox, loading, button, action, badge, toast } from '../js/ui.js';
import { time, num, fairModes, signupStatuses, label } from '../js/format.js';

export async function render(main, ctx) {
  if (ctx.parts[0]) return renderFair(main, ctx, ctx.parts[0]);
  return renderList(main, ctx);
}

// checkinCard: type or scan the code of a ticket and check its holder in.
function checkinCard(onCheckedIn) {
  const result = h('div', { class: 'checkin-result', 'aria-live': 'polite' });
  const f = form({
    class: 'inline-form checkin-form',
    fields: [{ name: 'code', label: '签到码', placeholder: '扫描或输入报名者出示的签到码', autocomplete: 'off' }],
    submitLabel: '签到',
    onSubmit: (v) => post('/checkins', { code: v.code.trim() }),
    onSuccess: (s) => {
      toast('签到成功');
      clear(result, h('div', { class: 'notice notice-ok', role: 'status' },
        h('strong', null, '签到成功'), h('p', null, `报名编号 #${s.id}，签到时间 ${time(s.checked_in_at)}`)));
      f.set('code', '');
      f.el.querySelector('input').focus();
      if (onCheckedIn) onCheckedIn(s);
    },
  });
  f.el.addEventListener('submit', () => clear(result), true);
  return card('现场签到', h('p', { class: 'muted small' }, '签到码由报名者在小程序“我的报名”中出示，每个签到码只能签到一次。'), f.el, result);
}

async function renderList(main, ctx) {
  const createBox = h('div', { hidden: true });
  const toggle = button('新建招聘会', () => {
    createBox.hidden = !createBox.hidden;
    if (!createBox.hidden) createBox.querySelector('input').focus();
  }, 'btn btn-primary');
  const figures = h('div', null, loading());
  const list = h('div', null, loading());
  main.append(pageHeader('招聘会', '女性专场招聘会的岗位、报名、签到与导出', toggle), createBox, checkinCard(),
    card('今年以来', figures), card('近期招聘会', list));

  const f = form({
    fields: [
      { name: 'title', label: '名称', required: true, maxlength: 128, full: true },
      { name: 'mode', label: '形式', type: 'select', options: [['onsite', '现场'], ['online', '线上']], value: 'onsite' },
      { name: 'venue', label: '地点', hint: '现场招聘会必填' },
      { name: 'starts_at', label: '开始时间', type: 'datetime', required: true },
      { name: 'ends_at', label: '结束时间', type: 'datetime', required: true },
      { name: 'capacity', label: '总名额', type: 'number', min: 1, required: true },
      { name: 'signup_opens_at', label: '报名开始', type: 'datetime', hint: '留空为立即开始' },
      { name: 'signup_ends_at', label: '报名截止', type: 'datetime', hint: '留空为开始时间' },
    ],
    submitLabel: '创建招聘会',
    onSubmit: (v) => post('/fairs', v),
    successMessage: '招聘会已创建',
    onSuccess: (fair) => ctx.navigate('/fairs/' + fair.id),
  });
  createBox.append(card('新建招聘会', f.el));

  get('/fairs/figures').then((x) => clear(figures, statCards([
    { label: '举办场次', value: num(x.fairs_held) }, { label: '报名人次', value: num(x.signups) },
    { label: '确认参加', value: num(x.confirmed) }, { label: '到场签到', value: num(x.attended) },
    { label: '未到场', value: num(x.no_shows) }, { label: '实现就业', value: num(x.placements) },
  ])), (err) => clear(figures, errorBox(err)));

  try {
    const res = await get('/fairs');
    clear(list, table([
      { label: '名称', value: (x) => link('/fairs/' + x.id, x.title) },
      { label: '形式', value: (x) => label(fairModes, x.mode) },
      { label: '时间', value: (x) => time(x.starts_at), class: 'nowrap' },
      { label: '地点', value: (x) => x.venue || '—' },
      { label: '名额', value: (x) => num(x.capacity), class: 'num' },
      { label: '剩余', value: (x) => num(x.seats_left), class: 'num' },
      { label: '报名截止', value: (x) => time(x.signup_ends_at), class: 'nowrap' },
    ], res.items, '暂无即将举行的招聘会。点击“新建招聘会”创建。'));
  } catch (err) {
    clear(list, errorBox(err, () => ctx.refresh()));
  }
}

async function renderFair(main, ctx, id) {
  main.append(loading());
  let fair;
  try {
    fair = await get('/fairs/' + encodeURIComponent(id));
  } catch (err) {
    clear(main, link('/fairs', '← 返回招聘会列表'), errorBox(err, () => ctx.refresh()));
    return;
  }
  const signups = h('div', null, loading());
  const employers = [...new Set(fair.positions.map((p) => p.employer))];
  const filter = h('select', { 'aria-label': '按用人单位筛选' }, h('option', { value: '' }, '全部用人单位'),
    employers.map((e) => h('option', { value: e }, e)));
  const exportBtn = button('导出 Excel', () => action(exportBtn,
    () => download(`/fairs/${fair.id}/signups`, { format: 'xlsx', employer: filter.value }, `招聘会${fair.id}报名.xlsx`),
    '已开始下载'), 'btn export');
  filter.addEventListener('change', () => loadSignups());

  const pos = form({
    fields: [
      { name: 'employer', label: '用人单位', required: true },
      { name: 'title', label: '岗位', required: true },
      { name: 'seats', label: '名额', type: 'number', min: 1, required: true },
      { name: 'salary_min', label: '月薪下限（元）', type: 'number', min: 0 },
      { name: 'salary_max', label: '月薪上限（元）', type: 'number', min: 0 },
      { name: 'requirements', label: '要求', type: 'textarea', rows: 2 },
    ],
    submitLabel: '添加岗位',
    onSubmit: (v) => post(`/fairs/${fair.id}/positions`, v),
    successMessage: '岗位已添加',
    onSuccess: () => ctx.refresh(),
  });

  clear(main,
    link('/fairs', '← 返回招聘会列表'),
    pageHeader(fair.title, `${label(fairModes, fair.mode)} · ${time(fair.starts_at)} 至 ${time(fair.ends_at)}`),
    statCards([
      { label: '总名额', value: num(fair.capacity) }, { label: '剩余名额', value: num(fair.seats_left) },
      { label: '岗位数', value: num(fair.positions.length) },
    ]),
    card('基本信息', h('dl', { class: 'kv' },
      h('dt', null, '地点'), h('dd', null, fair.venue || '—'),
      h('dt', null, '报名时间'), h('dd', null, `${time(fair.signup_opens_at)} 至 ${time(fair.signup_ends_at)}`))),
    card('岗位', table([
      { label: '用人单位', value: (p) => p.employer },
      { label: '岗位', value: (p) => p.title },
      { label: '名额', value: (p) => num(p.seats), class: 'num' },
      { label: '剩余', value: (p) => num(p.seats_left), class: 'num' },
      { label: '月薪', value: (p) => (p.salary_min || p.salary_max ? `${p.salary_min || '—'}–${p.salary_max || '—'}` : '面议') },
      { label: '要求', value: (p) => p.requirements || '' },
    ], fair.positions, '还没有岗位。'), h('h3', null, '添加岗位'), pos.el),
    checkinCard(() => loadSignups()),
    card('报名名单', h('div', { class: 'row' }, filter, exportBtn,
      h('span', { class: 'muted small' }, '名单中的手机号按权限脱敏显示；导出会记入审计日志。')), signups));

  async function loadSignups() {
    clear(signups, loading());
    try {
      const res = await get(`/fairs/${fair.id}/signups`, { employer: filter.value });
      clear(signups, table([
        { label: '编号', value: (s) => '#' + s.id, class: 'nowrap' },
        { label: '姓名', value: (s) => s.name },
        { label: '手机', value: (s) => s.phone, class: 'nowrap' },
        { label: '用人单位', value: (s) => s.employer },
        { label: '岗位', value: (s) => s.position },
        { label: '状态', value: (s) => statusBadge(s) },
        { label: '签到', value: (s) => (s.checked_in_at ? time(s.checked_in_at) : '—'), class: 'nowrap' },
        { label: '就业', value: (s) => placement(s) },
      ], res.items, '暂无报名。'));
    } catch (err) {
      clear(signups, errorBox(err, loadSignups));
    }
  }

  function placement(s) {
    if (s.placed_at) return badge('已就业 ' + time(s.placed_at).slice(0, 10), 'ok');
    if (!s.checked_in_at) return '—';
    const b = button('记录就业', async () => {
      const r = await action(b, () => post(`/signups/${s.id}/placement`), '已记录就业');
      if (r) loadSignups();
    }, 'btn btn-small');
    return b;
  }
  loadSignups();
}

function statusBadge(s) {
  const kinds = { confirmed: 'ok', waitlisted: 'warn', offered: 'info', cancelled: '', expired: '' };
  let text = label(signupStatuses, s.status);
  if (s.status === 'waitlisted' && s.waitlist_position) text += ` 第${s.waitlist_position}位`;
  return badge(text, kinds[s.status] || '');
}

