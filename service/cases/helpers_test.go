package cases_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/cases"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

type onDuty struct{ ids []int64 }

func (o onDuty) OnDutyStaff(context.Context) ([]int64, error) { return o.ids, nil }

var sh = time.FixedZone("CST", 8*3600)

// t0 is Monday 2026-03-09 10:00 in Shanghai.
var t0 = time.Date(2026, 3, 9, 10, 0, 0, 0, sh)

type env struct {
	db     *store.DB
	store  *store.Cases
	svc    *cases.Service
	notes  *testutil.Notifier
	audit  *testutil.Audit
	clock  *testutil.Clock
	keys   *protect.Keyring
	duty   int64 // the on-duty staff id
	admin  context.Context
	cwA    context.Context // caseworker of station A
	cwB    context.Context // caseworker of station B
	coord  context.Context // district coordinator of 朝阳区
	editor context.Context
	stA    model.Station
	stB    model.Station
	ids    map[string]int64
	users  int64 // Mini Program users made up so far
}

func staffCtx(id int64, name string, station int64, district string, roles ...model.Role) context.Context {
	ctx := model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: id, Username: name,
		Roles: roles, StationID: station, District: district})
	return model.WithRequestInfo(ctx, model.RequestInfo{IP: "10.0.0.1", RequestID: "req-" + name})
}

func mustEnv(tb testing.TB) *env { return mustEnvOn(tb, storetest.Dialects()[0].Open(tb)) }

// rawDB is a second, plain connection to a test database, for editing and
// scanning it behind the store's back as someone with database access
// would.
type rawDB struct {
	driver string
	dsn    string // for sqlite: the file
	db     *sql.DB
}

// eachDialect runs fn per dialect with a migrated database, its env and a
// raw connection to it.
func eachDialect(t *testing.T, fn func(t *testing.T, e *env, raw *rawDB)) {
	for _, d := range storetest.Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			opts := d.Options(t)
			db, cleanup, err := store.Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cleanup)
			if err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			driver := map[string]string{"sqlite": "sqlite", "mysql": "mysql", "postgres": "pgx"}[opts.Driver]
			conn, err := sql.Open(driver, opts.DSN)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			fn(t, mustEnvOn(t, db), &rawDB{driver: opts.Driver, dsn: opts.DSN, db: conn})
		})
	}
}

// exec runs a statement written with ? placeholders.
func (r *rawDB) exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	if r.driver == "postgres" {
		var b strings.Builder
		n := 0
		for _, c := range query {
			if c == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(c)
		}
		query = b.String()
	}
	if _, err := r.db.Exec(query, args...); err != nil {
		tb.Fatalf("raw exec %q: %v", query, err)
	}
}

// tables lists the tables of the database.
func (r *rawDB) tables(tb testing.TB) []string {
	tb.Helper()
	q := map[string]string{
		"sqlite":   "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
		"mysql":    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
		"postgres": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
	}[r.driver]
	rows, err := r.db.Query(q)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		out = append(out, name)
	}
	return out
}

func mustEnvOn(tb testing.TB, db *store.DB) *env {
	tb.Helper()
	ctx := context.Background()
	keys, err := protect.NewKeyring(bytes.Repeat([]byte{7}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{db: db, store: store.NewCases(db), notes: &testutil.Notifier{Dedupe: true}, audit: &testutil.Audit{}, clock: testutil.NewClock(t0), keys: keys,
		ids: map[string]int64{}}
	staff := store.NewStaff(db)
	for _, s := range []struct {
		name  string
		roles []model.Role
	}{
		{"admin", []model.Role{model.RoleAdmin}}, {"duty", []model.Role{model.RoleCaseworker}}, {"cwa", []model.Role{model.RoleCaseworker}},
		{"cwb", []model.Role{model.RoleCaseworker}}, {"coord", []model.Role{model.RoleCaseworker}}, {"editor", []model.Role{model.RoleEditor}},
	} {
		st, err := staff.CreateStaff(ctx, model.Staff{Username: s.name, DisplayName: s.name, PasswordHash: "x", Roles: s.roles})
		if err != nil {
			tb.Fatal(err)
		}
		e.ids[s.name] = st.ID
	}
	e.duty = e.ids["duty"]
	e.svc, err = cases.New(cases.Deps{Store: e.store, Notifier: e.notes, Audit: e.audit, Keys: keys, Staff: staff,
		OnDuty: onDuty{ids: []int64{e.duty}}, Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	e.admin = staffCtx(e.ids["admin"], "admin", 0, "", model.RoleAdmin)
	e.stA = e.mustStation(tb, "朝阳法律援助站", []string{"朝阳区"}, nil, 0, e.ids["cwa"])
	e.stB = e.mustStation(tb, "海淀心理咨询中心", []string{"海淀区"}, nil, 0, e.ids["cwb"])
	e.cwA = staffCtx(e.ids["cwa"], "cwa", e.stA.ID, "", model.RoleCaseworker)
	e.cwB = staffCtx(e.ids["cwb"], "cwb", e.stB.ID, "", model.RoleCaseworker)
	e.coord = staffCtx(e.ids["coord"], "coord", 0, "朝阳区", model.RoleCaseworker)
	e.editor = staffCtx(e.ids["editor"], "editor", 0, "", model.RoleEditor)
	return e
}

func (e *env) mustStation(tb testing.TB, name string, districts []string, cats []model.CaseCategory, capacity int, duty ...int64) model.Station {
	tb.Helper()
	kind := "law_firm"
	phone := "010-65001234"
	st, err := e.svc.CreateStation(e.admin, cases.StationInput{Name: &name, Kind: &kind, Districts: &districts, Categories: &cats,
		Capacity: &capacity, DutyStaffIDs: &duty, Phone: &phone})
	if err != nil {
		tb.Fatalf("CreateStation(%s) = %v", name, err)
	}
	return st
}

// The personal data of the test intake: distinctive, so a scan of the
// database finds any plaintext copy.
const (
	herName  = "张秀英测试"
	herPhone = "13912345678"
	herStory = "丈夫长期殴打我，昨晚又用皮带抽打，孩子也被吓坏了"
	herNote  = "只在工作日白天联系"
)

func intake(category model.CaseCategory, danger bool) cases.IntakeInput {
	return cases.IntakeInput{Category: category, Description: herStory, Name: herName, Phone: herPhone, Danger: danger,
		District: "朝阳区", Contact: &model.ContactPrefs{Mode: model.ContactAny, Note: herNote}}
}

// mustSubmit submits a case for user (Mini Program).
func (e *env) mustSubmit(tb testing.TB, user int64, in cases.IntakeInput) model.Case {
	tb.Helper()
	res, err := e.svc.SubmitMP(context.Background(), user, in)
	if err != nil {
		tb.Fatalf("SubmitMP() = %v", err)
	}
	return res.Case
}

func (e *env) mustAssign(tb testing.TB, c model.Case, st model.Station) model.Case {
	tb.Helper()
	got, err := e.svc.Assign(e.admin, c.CaseNo, st.ID, "按辖区分派")
	if err != nil {
		tb.Fatalf("Assign() = %v", err)
	}
	return got
}

func (e *env) mustTransition(tb testing.TB, ctx context.Context, c model.Case, to model.CaseStatus) model.Case {
	tb.Helper()
	in := cases.TransitionInput{To: to, Note: "处理记录"}
	if to == model.CaseClosed {
		in.Outcome = model.OutcomeLegalAid
	}
	got, err := e.svc.Transition(ctx, c.CaseNo, in)
	if err != nil {
		tb.Fatalf("Transition(%s → %s) = %v", c.Status, to, err)
	}
	return got
}

func wantKind(tb testing.TB, err, kind error, what string) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Errorf("%s = %v, want %v", what, err, kind)
	}
}

func wantCode(tb testing.TB, err error, code string, what string) {
	tb.Helper()
	var me *model.Error
	if !errors.As(err, &me) || me.Code != code {
		tb.Errorf("%s = %v, want code %s", what, err, code)
	}
}

func topics(ss []testutil.Notified) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Notice.Topic)
	}
	return strings.Join(out, ",")
}
