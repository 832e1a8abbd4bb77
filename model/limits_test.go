package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name      string
		change    func(l *Limits)
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"defaults", func(l *Limits) {}, "", ""},
		{"the bounds", func(l *Limits) {
			l.Apps, l.TopApps, l.Namespaces, l.ActiveWindow = MaxLimit, MaxLimit, 1, MinActiveWindow
		}, "", ""},
		{"zero apps", func(l *Limits) { l.Apps = 0 }, "apps", "apps = 0: use 1 to 100000"},
		{"too many day apps", func(l *Limits) { l.DayApps = MaxLimit + 1 }, "day_apps", "day_apps = 100001: use 1 to 100000"},
		{"negative clients", func(l *Limits) { l.WebSocketClients = -1 }, "websocket_clients", "websocket_clients = -1"},
		{"top apps over apps", func(l *Limits) { l.Apps, l.TopApps = 10, 20 }, "top_apps", "top_apps = 20 is more than apps = 10"},
		{"short window", func(l *Limits) { l.ActiveWindow = time.Second }, "active_window", "active_window 1s is too short: use at least 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Limits{}.WithDefaults()
			tt.change(&l)
			err := l.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.HasPrefix(fe.Err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want field %q and a message starting %q", err, tt.wantField, tt.want)
			}
		})
	}
}

func TestInField(t *testing.T) {
	bad := errors.New("bad")
	tests := []struct {
		name, prefix string
		err          error
		wantField    string
	}{
		{"field under a table", "monitor.2", FieldErrorf("listen", "x"), "monitor.2.listen"},
		{"the table itself", "monitor.2", FieldErrorf("", "x"), "monitor.2"},
		{"top level", "", FieldErrorf("interval", "x"), "interval"},
		{"twice", "a", InField("b", FieldErrorf("c", "x")), "a.b.c"},
		{"not a field error", "http", bad, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fe *FieldError
			if err := InField(tt.prefix, tt.err); !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("InField(%q, %v) = %v, want field %q", tt.prefix, tt.err, err, tt.wantField)
			}
		})
	}
	if InField("x", nil) != nil {
		t.Fatal("InField of nil is not nil")
	}
	if err := InField("x", bad); !errors.Is(err, bad) || err.Error() != "x: bad" {
		t.Fatalf("InField(x, bad) = %v, want x: bad wrapping bad", err)
	}
}
