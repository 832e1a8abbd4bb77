package main

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

func TestListenWeb(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := nettest.FreeAddr(t)
	tests := []struct {
		name    string
		cfg     httpapi.Config
		yield   bool
		wantErr string
		wantOn  string // the address served on; "moved" for another port of 127.0.0.1
		wantLog string
	}{
		{name: "off", cfg: httpapi.Config{}},
		{name: "free port", cfg: httpapi.Config{Listen: "127.0.0.1:0"}, wantOn: "127.0.0.1:"},
		{name: "port in use", cfg: httpapi.Config{Listen: busy.Addr().String()},
			wantErr: "another program uses the port: give -listen (or [http] listen) another address"},
		{name: "not this host's address", cfg: httpapi.Config{Listen: "192.0.2.1:8000"},
			wantErr: "the host is not an address of this machine"},
		{name: "not this host's address, yielding", cfg: httpapi.Config{Listen: "192.0.2.1:8000"}, yield: true,
			wantErr: "the host is not an address of this machine"},
		{name: "default free, yielding", cfg: httpapi.Config{Listen: free}, yield: true, wantOn: free},
		{name: "default in use, yielding", cfg: httpapi.Config{Listen: busy.Addr().String()}, yield: true, wantOn: "moved",
			wantLog: `level=WARN msg="the default listen address is in use (by the bwmon service?): serving on another loopback port; use -listen ADDR to choose one" component=http busy=` + busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			srv, ln, err := listenWeb(tt.cfg, tt.yield, model.Limits{}, httpapi.Options{}, slog.New(slog.NewTextHandler(&log, nil)))
			if ln != nil {
				defer ln.Close()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ln != nil {
					t.Fatalf("err %v, listener %v; want %q and none", err, ln, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (srv != nil) != (tt.wantOn != "") || (ln != nil) != (tt.wantOn != "") {
				t.Fatalf("server %v, listener %v; want serving %v", srv != nil, ln != nil, tt.wantOn != "")
			}
			if ln == nil {
				return
			}
			addr := ln.Addr().String()
			if tt.wantOn == "moved" {
				if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" || addr == tt.cfg.Listen {
					t.Fatalf("serving on %s, want another port of 127.0.0.1 than %s", addr, tt.cfg.Listen)
				}
			} else if !strings.HasPrefix(addr, tt.wantOn) {
				t.Fatalf("serving on %s, want %s", addr, tt.wantOn)
			}
			if !strings.Contains(log.String(), "url=http://"+addr+"/") || !strings.Contains(log.String(), tt.wantLog) {
				t.Fatalf("log %q does not give the address to open, or lacks %q", log.String(), tt.wantLog)
			}
		})
	}
}
