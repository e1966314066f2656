package notify

import "wanjia/model"

// The seeded topics.
const (
	TopicCrisisAlert        = "crisis_alert"
	TopicCaseUpdate         = "case_update"
	TopicLessonPublished    = "lesson_published"
	TopicSignupPromoted     = "signup_promoted"
	TopicSignupReminder     = "signup_reminder"
	TopicNominationReviewed = "nomination_reviewed"
	TopicCaseUpdateMP       = "case_update_mp" // case_update for a person who wants the Mini Program only
)

// DefaultTemplates returns the seeded topics with their field mappings.
// In sandbox they carry template ids the simulator knows (register them
// with wxsim's AddTemplate: see TemplateKeys); otherwise the ids are empty
// and staff fill them in from the WeChat console (until then only the
// customer-service text reaches people). Logical fields: title, time,
// summary, status, course, hint, fair, position, venue, family, result.
// case_update uses neutral wording only ("您的咨询有新进展"): lock screens
// and shared phones.
func DefaultTemplates(sandbox bool) []model.NotifyTemplate {
	id := func(s string) string {
		if sandbox {
			return s
		}
		return ""
	}
	f := func(key, field, def string) model.TemplateField {
		return model.TemplateField{Key: key, Field: field, Default: def}
	}
	return []model.NotifyTemplate{
		{
			Topic: TopicCrisisAlert, Name: "紧急求助提醒", Enabled: true,
			OATemplateID: id("sandbox_oa_crisis_alert"),
			OAFields:     []model.TemplateField{f("thing1", "title", "收到紧急求助"), f("time2", "time", ""), f("thing3", "summary", "请立即登录后台处理")},
			Text:         "【紧急】{title}，请立即登录后台处理。",
		},
		{
			Topic: TopicCaseUpdate, Name: "咨询进展提醒", Enabled: true,
			MPTemplateID: id("sandbox_mp_case_update"),
			MPFields:     []model.TemplateField{f("thing1", "title", "您的咨询有新进展"), f("phrase2", "status", "已更新"), f("time3", "time", "")},
			OATemplateID: id("sandbox_oa_case_update"),
			OAFields:     []model.TemplateField{f("thing1", "title", "您的咨询有新进展"), f("time2", "time", "")},
			Text:         "您的咨询有新进展，请进入小程序查看。",
		},
		{
			// No Official Account template and no text: only the Mini
			// Program's subscribe message can carry it (safe-contact
			// preference "mp_only" of a 12338 case).
			Topic: TopicCaseUpdateMP, Name: "咨询进展提醒（仅小程序）", Enabled: true,
			MPTemplateID: id("sandbox_mp_case_update"),
			MPFields:     []model.TemplateField{f("thing1", "title", "您的咨询有新进展"), f("phrase2", "status", "已更新"), f("time3", "time", "")},
		},
		{
			Topic: TopicLessonPublished, Name: "微课上新提醒", Enabled: true,
			MPTemplateID: id("sandbox_mp_lesson_published"),
			MPFields: []model.TemplateField{f("thing1", "title", ""), f("thing2", "course", "家庭教育微课堂"), f("time3", "time", ""),
				f("thing4", "hint", "点击进入学习")},
			OATemplateID: id("sandbox_oa_lesson_published"),
			OAFields:     []model.TemplateField{f("thing1", "title", ""), f("time2", "time", "")},
			Text:         "新课上线：{title}",
		},
		{
			Topic: TopicSignupPromoted, Name: "候补转正提醒", Enabled: true,
			MPTemplateID: id("sandbox_mp_signup_promoted"),
			MPFields: []model.TemplateField{f("thing1", "fair", ""), f("thing2", "position", ""), f("phrase3", "status", "已确认"),
				f("time4", "time", "")},
			OATemplateID: id("sandbox_oa_signup_promoted"),
			OAFields:     []model.TemplateField{f("thing1", "fair", ""), f("thing2", "position", ""), f("time3", "time", "")},
			Text:         "您已从候补转为正式报名：{fair}（{position}），时间 {time}。",
		},
		{
			Topic: TopicSignupReminder, Name: "招聘会提醒", Enabled: true,
			MPTemplateID: id("sandbox_mp_signup_reminder"),
			MPFields: []model.TemplateField{f("thing1", "fair", ""), f("time2", "time", ""), f("thing3", "venue", ""),
				f("thing4", "hint", "请准时参加")},
			OATemplateID: id("sandbox_oa_signup_reminder"),
			OAFields:     []model.TemplateField{f("thing1", "fair", ""), f("time2", "time", ""), f("thing3", "venue", "")},
			Text:         "提醒：{fair} 将于 {time} 在 {venue} 举行。",
		},
		{
			Topic: TopicNominationReviewed, Name: "推荐审核结果", Enabled: true,
			MPTemplateID: id("sandbox_mp_nomination_reviewed"),
			MPFields:     []model.TemplateField{f("thing1", "family", ""), f("phrase2", "result", ""), f("thing3", "hint", "点击查看详情")},
			OATemplateID: id("sandbox_oa_nomination_reviewed"),
			OAFields:     []model.TemplateField{f("thing1", "family", ""), f("thing2", "result", "")},
			Text:         "您提交的最美家庭推荐“{family}”审核结果：{result}。",
		},
	}
}

// TemplateKeys returns the WeChat keys of a mapping, for registering a
// template with the simulator (wxsim.Sim.AddTemplate).
func TemplateKeys(fs []model.TemplateField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Key
	}
	return out
}
