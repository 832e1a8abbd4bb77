package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// TestTopTarget: which agent bwmon top follows, and with which token: the
// flags, else the configuration's [http] listen and token.
func TestTopTarget(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	every := write("every.toml", "[http]\nlisten = \":9000\"\ntoken = \"abc\"\n")
	v6 := write("v6.toml", "[http]\nlisten = \"[::]:9001\"\n")
	none := write("none.toml", "[http]\nlisten = \"\"\n")
	bad := write("bad.toml", "[http]\nlisten = 12\n")
	tokFile := write("token", "s3cret\n")
	tests := []struct {
		name            string
		f               topFlags
		wantURL, wantTk string
		err             string
	}{
		{"every interface: loopback", topFlags{config: every}, "http://127.0.0.1:9000/", "abc", ""},
		{"ipv6 every interface", topFlags{config: v6}, "http://[::1]:9001/", "", ""},
		{"-url over the file, its token kept", topFlags{config: every, url: "http://10.0.0.1:8000"}, "http://10.0.0.1:8000/", "abc", ""},
		{"-token over the file", topFlags{config: every, token: "xyz"}, "http://127.0.0.1:9000/", "xyz", ""},
		{"-token-file, trimmed", topFlags{config: every, tokenFile: tokFile}, "http://127.0.0.1:9000/", "s3cret", ""},
		{"-url and -token need no file", topFlags{config: bad, url: "localhost:1", token: "t"}, "http://localhost:1/", "t", ""},
		{"no HTTP", topFlags{config: none}, "", "", `[http] listen = "": the agent serves no HTTP`},
		{"a bad file named", topFlags{config: bad}, "", "", "bad.toml"},
		{"a missing file named", topFlags{config: filepath.Join(dir, "nope.toml")}, "", "", "nope.toml"},
		{"a missing token file", topFlags{config: every, tokenFile: filepath.Join(dir, "nope")}, "", "", "reading -token-file"},
		{"a bad -url", topFlags{config: every, url: "ftp://x/"}, "", "", "-url: bad agent URL"},
	}
	if _, err := os.Stat(installedConfig); os.IsNotExist(err) {
		tests = append(tests, struct {
			name            string
			f               topFlags
			wantURL, wantTk string
			err             string
		}{"no file: the default", topFlags{}, "http://" + httpapi.DefaultListen + "/", "", ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, tok, _, err := topTarget(tt.f)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("topTarget: %v, %q, %v; want an error saying %q", u, tok, err, tt.err)
				}
				return
			}
			if err != nil || u.String() != tt.wantURL || tok != tt.wantTk {
				t.Fatalf("topTarget: %v, %q, %v; want %s, %q", u, tok, err, tt.wantURL, tt.wantTk)
			}
		})
	}
}

func TestTopFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"-h"}, 0, "-token-file"},
		{"bad output", []string{"-output", "xml"}, 2, "bad -output"},
		{"stray argument", []string{"x"}, 2, `unexpected argument "x"`},
		{"bad url", []string{"-url", "http://u:p@h/"}, 2, "give the token with -token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := topCommand(context.Background(), tt.args, &stdout, &stderr, false); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	run([]string{"-h"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "bwmon top [flags]") {
		t.Errorf("bwmon -h does not name bwmon top:\n%s", stderr.String())
	}
}

// TestTopFollowsAgent: bwmon top to a pipe prints the agent's ticks, as
// JSON or the plain table, with the agent's token.
func TestTopFollowsAgent(t *testing.T) {
	srv, err := httpapi.New(httpapi.Options{Listen: "127.0.0.1:0", Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); ts.Close() })
	snap := goldenSnapshot()
	srv.Consume(snap)
	tests := []struct {
		name     string
		args     []string
		terminal bool
		check    func(t *testing.T, out string) bool
	}{
		{"json, even on a terminal", []string{"-output", "json"}, true, func(t *testing.T, out string) bool {
			line, _, ok := strings.Cut(out, "\n")
			if !ok {
				return false
			}
			var got model.Snapshot
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("not a tick: %v: %s", err, line)
			}
			var want, have []string
			for _, a := range snap.Apps {
				want = append(want, a.App)
			}
			for _, a := range got.Apps {
				have = append(have, a.App)
			}
			if !slices.Equal(have, want) || !got.Time.Equal(snap.Time) {
				t.Fatalf("apps %q at %s, want %q at %s", have, got.Time, want, snap.Time)
			}
			return true
		}},
		{"table to a pipe", nil, false, func(t *testing.T, out string) bool {
			if !strings.Contains(out, "(other: 1412 apps)") {
				return false
			}
			if strings.ContainsRune(out, '\x1b') || !strings.Contains(out, "     RATE IN     RATE OUT") {
				t.Fatalf("not the plain table:\n%q", out)
			}
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr nettest.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			exit := make(chan int, 1)
			go func() {
				exit <- topCommand(ctx, append([]string{"-url", ts.URL, "-token", "s3cret"}, tt.args...), &stdout, &stderr, tt.terminal)
			}()
			waitFor(t, 10*time.Second, "a tick on stdout", func() bool { return tt.check(t, stdout.String()) })
			waitFor(t, 10*time.Second, "the WebSocket client", func() bool { return srv.Clients() == 1 })
			cancel()
			select {
			case code := <-exit:
				if code != 0 {
					t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("bwmon top did not stop")
			}
			if !strings.Contains(stderr.String(), "bwmon top: following "+ts.URL+"/") {
				t.Errorf("stderr does not say what it follows:\n%s", stderr.String())
			}
		})
	}
}
