package main

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestListenWeb(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		cfg     HTTPConfig
		wantErr string
		wantOn  bool
	}{
		{"off", HTTPConfig{}, "", false},
		{"free port", HTTPConfig{Listen: "127.0.0.1:0"}, "", true},
		{"port in use", HTTPConfig{Listen: busy.Addr().String()}, "set [http] listen to another address", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			srv, ln, err := listenWeb(tt.cfg, model.Limits{}, nil, nil, slog.New(slog.NewTextHandler(&log, nil)))
			if ln != nil {
				defer ln.Close()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (srv != nil) != tt.wantOn || (ln != nil) != tt.wantOn {
				t.Fatalf("server %v, listener %v; want serving %v", srv != nil, ln != nil, tt.wantOn)
			}
			if tt.wantOn && !strings.Contains(log.String(), "url=http://"+ln.Addr().String()+"/") {
				t.Fatalf("log %q does not give the address to open", log.String())
			}
		})
	}
}
