package config_test

import (
	"strings"
	"testing"
	"time"

	"wanjia/config"
)

func TestCasesDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil), "")
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := config.Cases{SLAFirstResponseHours: 24, SLACloseDays: 30, WorkingHours: "09:00-17:00", WorkingDays: "mon-fri",
		RetentionDays: 1095, SweepInterval: time.Minute}
	if c.Cases != want {
		t.Errorf("Cases = %+v, want %+v", c.Cases, want)
	}
}

func TestCasesValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, val string
		wantErr  string // "" for accepted
	}{
		{"WANJIA_CASES_SLA_FIRST_RESPONSE_HOURS", "8", ""},
		{"WANJIA_CASES_SLA_FIRST_RESPONSE_HOURS", "0", "WANJIA_CASES_SLA_FIRST_RESPONSE_HOURS"},
		{"WANJIA_CASES_SLA_CLOSE_DAYS", "-1", "WANJIA_CASES_SLA_CLOSE_DAYS"},
		{"WANJIA_CASES_WORKING_HOURS", "08:30-17:30", ""},
		{"WANJIA_CASES_WORKING_HOURS", "17:00-09:00", "WANJIA_CASES_WORKING_HOURS"},
		{"WANJIA_CASES_WORKING_HOURS", "9-5", "WANJIA_CASES_WORKING_HOURS"},
		{"WANJIA_CASES_WORKING_DAYS", "mon,tue,sat", ""},
		{"WANJIA_CASES_WORKING_DAYS", "Mon-Sat", ""},
		{"WANJIA_CASES_WORKING_DAYS", "monday-friday", "WANJIA_CASES_WORKING_DAYS"},
		{"WANJIA_CASES_HOLIDAYS", "2026-10-01, 2026-10-02", ""},
		{"WANJIA_CASES_HOLIDAYS", "2026-13-01", "WANJIA_CASES_HOLIDAYS"},
		{"WANJIA_CASES_WORKDAYS", "2026-09-20,2026-10-10", ""},
		{"WANJIA_CASES_WORKDAYS", "2026-9-20", "WANJIA_CASES_WORKDAYS"},
		{"WANJIA_CASES_RETENTION_DAYS", "7", "WANJIA_CASES_RETENTION_DAYS"},
		{"WANJIA_CASES_SWEEP_INTERVAL", "10ms", "WANJIA_CASES_SWEEP_INTERVAL"},
	}
	for _, tt := range tests {
		_, err := config.Load(env(map[string]string{tt.key: tt.val}), "")
		wantLoad(t, tt.key+"="+tt.val, err, tt.wantErr)
	}
	// A date in both lists.
	_, err := config.Load(env(map[string]string{"WANJIA_CASES_HOLIDAYS": "2026-10-01,2026-10-02",
		"WANJIA_CASES_WORKDAYS": "2026-10-02"}), "")
	wantLoad(t, "a date in both lists", err, "WANJIA_CASES_WORKDAYS")
}

func wantLoad(t *testing.T, what string, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("Load(%s) = %v, want it accepted", what, err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("Load(%s) = %v, want an error naming %s", what, err, wantErr)
	}
}

func TestParseWeekdays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want [7]bool // Sunday first
		bad  bool
	}{
		{in: "mon-fri", want: [7]bool{false, true, true, true, true, true, false}},
		{in: "sat-mon", want: [7]bool{true, true, false, false, false, false, true}},
		{in: "sun", want: [7]bool{true}},
		{in: "tue, thu", want: [7]bool{false, false, true, false, true}},
		{in: "", bad: true},
		{in: ",", bad: true},
		{in: "mon-xyz", bad: true},
	}
	for _, tt := range tests {
		got, err := config.ParseWeekdays(tt.in)
		if (err != nil) != tt.bad || !tt.bad && got != tt.want {
			t.Errorf("ParseWeekdays(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
