// Times, numbers and the Chinese names of the API's codes. Times are shown
// in Asia/Shanghai whatever the browser's zone (API.md: "a day" is a day in
// Asia/Shanghai).
const TZ = 'Asia/Shanghai';

const dtf = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const df = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });
const nf = new Intl.NumberFormat('zh-CN');

function parts(fmt, d) {
  const o = {};
  for (const p of fmt.formatToParts(d)) o[p.type] = p.value;
  return o;
}

// time formats an RFC 3339 string as "2026-03-08 09:00" (Shanghai); empty
// for null.
export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = parts(dtf, d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

export function day(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = parts(df, d);
  return `${p.year}-${p.month}-${p.day}`;
}

// today is the Shanghai date as YYYY-MM-DD.
export function today() {
  return day(new Date().toISOString());
}

// toRFC3339 turns a datetime-local value ("2026-03-08T09:00"), read as
// Shanghai time, into "2026-03-08T09:00:00+08:00"; undefined when empty.
export function toRFC3339(local) {
  if (!local) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?$/.exec(local);
  if (!m) return local;
  return `${m[1]}T${m[2]}${m[3] || ':00'}+08:00`;
}

// toLocalInput is the datetime-local value of an RFC 3339 time (Shanghai).
export function toLocalInput(iso) {
  if (!iso) return '';
  const t = time(iso);
  return t ? t.replace(' ', 'T') : '';
}

export function num(n) {
  if (n === null || n === undefined || n === '') return '—';
  return nf.format(n);
}

export function percent(x) {
  if (x === null || x === undefined) return '—';
  return (Math.round(x * 1000) / 10).toFixed(1) + '%';
}

export const roleNames = {
  admin: '管理员', editor: '编辑', reviewer: '审核员', caseworker: '维权专员', fair_manager: '招聘会管理员',
};

export const fairModes = { onsite: '现场', online: '线上' };

export const signupStatuses = {
  confirmed: '已确认', waitlisted: '候补', offered: '候补转正待确认', cancelled: '已取消', expired: '已过期',
};

export const caseCategories = {
  domestic_violence: '家庭暴力', marriage_family: '婚姻家庭', employment: '劳动就业', property: '财产继承',
  harassment: '性骚扰', child: '儿童权益', other: '其他',
};

export const caseStatuses = {
  received: '已接收', accepted: '已受理', assigned: '已分派', in_progress: '处理中', resolved: '已办结',
  closed: '已结案', reopened: '已重启',
};

export const nominationStatuses = {
  pending: '待审核', approved: '已通过', rejected: '未通过', machine_rejected: '机审未通过', reviewing: '审核中',
};

export const lessonStatuses = { draft: '草稿', scheduled: '定时发布', published: '已发布', withdrawn: '已下架' };

export const articleStatuses = {
  draft: '草稿', checking: '内容检测中', pending: '待审批', submitted: '待审批', approved: '已审批', scheduled: '定时发布',
  publishing: '发布中', published: '已发布', failed: '发布失败', rejected: '已退回',
};

export const deliveryStatuses = {
  pending: '待发送', sending: '发送中', sent: '已发送', failed: '失败', no_consent: '未授权', no_channel: '无可用渠道', skipped: '已跳过',
};

export const matchTypes = {
  subscribe: '关注时回复', keyword: '关键词', msgtype: '消息类型', click: '菜单点击', default: '默认回复',
};

export const keywordModes = { exact: '完全匹配', contains: '包含', regex: '正则表达式' };

export const replyKinds = { text: '文字', image: '图片', news: '图文' };

export const loginOutcomes = {
  ok: '成功', success: '成功', bad_password: '密码错误', unknown_user: '用户不存在', locked: '已锁定', disabled: '已停用',
};

export function label(map, code) {
  return (code && map[code]) || code || '';
}

export const topicNames = {
  crisis_alert: '紧急求助提醒', case_update: '咨询进展提醒', lesson_published: '微课上新提醒',
  signup_promoted: '候补转正提醒', signup_reminder: '招聘会提醒', nomination_reviewed: '推荐审核结果',
  article_published: '文章推送',
};

export const channelNames = { mp_subscribe: '小程序订阅消息', oa_template: '公众号模板消息', console: '工作台提醒', oa_custom: '公众号客服消息' };

export const caseStatusNames = {
  received: '已接收', accepted: '已受理', assigned: '已分派', in_progress: '处理中', resolved: '已解决',
  closed: '已结案', reopened: '已重新开启',
};

export const caseOutcomes = {
  legal_aid: '法律援助', mediation: '调解', referral: '转介（公安、法院、民政等）', counselling: '心理疏导',
  protection: '人身安全保护令 / 庇护', resolved: '咨询解答，问题已解决', unreachable: '无法联系当事人', withdrawn: '当事人撤回', other: '其他',
};

export const caseChannels = { mp: '小程序', hotline: '12338 热线', walk_in: '来访' };

export const contactModes = {
  any: '可以联系', none: '不要联系（她自己在小程序查看）', mp_only: '只用小程序消息', window: '只在指定时段联系',
};

export const stationKinds = {
  law_firm: '律师事务所', counselling: '心理咨询机构', legal_aid: '法律援助中心', shelter: '庇护所', other: '其他',
};

export const lessonKinds = { video: '视频', audio: '音频', article: '图文' };

export const audiences = {
  infant: '0–3 岁', preschool: '3–6 岁', primary: '小学', secondary: '中学', all: '全年龄段',
};

export const publishModes = { freepublish: '发表（不推送通知）', masssend: '群发（推送给粉丝）' };

// breakdownNames names the codes the figures are broken down by (keys
// "group:code", or a bare code).
export const breakdownGroups = {
  category: '按类别', station: '按服务站', month: '按月', source: '按来源', outcome: '按处理结果', sla: '按时限', '': '分项',
};
export const breakdownNames = {
  ...caseCategories, ...channelNames, ...lessonKinds,
  intake: '登记', inbound_phone: '来电', inbound_visit: '来访', inbound_other: '其他呼入', message_day: '小程序留言',
  first_response: '首次响应', close: '结案', cases: '案件数', no_response: '未响应',
  ...Object.fromEntries(Object.entries(caseOutcomes).map(([k, v]) => [k, v.replace(/（.*$/, '')])),
};
