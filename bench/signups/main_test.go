package main

import (
	"io"
	"testing"

	"wanjia/model"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{args: nil},
		{args: []string{"-driver", "sqlite", "-n", "10", "-seats", "5", "-positions", "5"}},
		{args: []string{"-driver", "oracle"}, wantErr: true},
		{args: []string{"-seats", "7", "-positions", "2"}, wantErr: true},
		{args: []string{"-n", "0"}, wantErr: true},
	}
	for _, tt := range tests {
		if _, err := parse(tt.args, io.Discard); (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}

func TestVerify(t *testing.T) {
	c := model.Signup{Status: model.SignupConfirmed}
	w := func(place int) model.Signup {
		return model.Signup{Status: model.SignupWaitlisted, WaitlistPosition: place}
	}
	fair := func(taken, posTaken int) model.Fair {
		return model.Fair{Capacity: 1, SeatsTaken: taken, Positions: []model.Position{{Seats: 1, SeatsTaken: posTaken}}}
	}
	tests := []struct {
		name    string
		results []model.Signup
		stored  []model.Signup
		fair    model.Fair
		wantErr bool
	}{
		{"good", []model.Signup{c, w(1), w(1)}, []model.Signup{c, w(1), w(2)}, fair(1, 1), false},
		{"two confirmed", []model.Signup{c, c, w(1)}, []model.Signup{c, c, w(1)}, fair(1, 1), true},
		{"repeated place", []model.Signup{c, w(1), w(2)}, []model.Signup{c, w(1), w(1)}, fair(1, 1), true},
		{"position oversold", []model.Signup{c, w(1), w(2)}, []model.Signup{c, w(1), w(2)}, fair(1, 2), true},
		{"lost signup", []model.Signup{c, w(1), w(2)}, []model.Signup{c, w(1)}, fair(1, 1), true},
	}
	for _, tt := range tests {
		if err := verify(tt.results, tt.stored, tt.fair, 1); (err != nil) != tt.wantErr {
			t.Errorf("%s: verify() = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
