package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/model"
)

// agent is an httpapi.Server serving on a loopback port, as a running
// agent does.
type agent struct {
	srv  *httpapi.Server
	hs   *http.Server
	addr string
	done chan struct{}
}

// startAgent serves on addr ("127.0.0.1:0" for any port) with token.
func startAgent(t *testing.T, addr, token string) *agent {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Options{Listen: ln.Addr().String(), Token: token,
		Processes: func(app string) []model.ProcessUsage {
			if app != "curl" {
				return nil
			}
			return []model.ProcessUsage{{PID: 77, Name: "curl", Cmdline: "curl -O http://example.com/x", User: model.UserRef{UID: 0, Name: "root"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{srv: srv, hs: &http.Server{Handler: srv.Handler()}, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		_ = a.hs.Serve(ln)
	}()
	t.Cleanup(a.stop)
	return a
}

// stop ends the agent: its clients see the connection close.
func (a *agent) stop() {
	a.srv.Close()
	a.hs.Close()
	<-a.done
}

func tickAt(at time.Time, app string) *model.Snapshot {
	return &model.Snapshot{Time: at, IntervalS: 1, Apps: []model.AppUsage{{App: app, BytesIn: 1234, RateIn: 1000}},
		Forwarded: model.Forwarded{Hosts: []model.ForwardedHosts{}}}
}

// follower runs a Client and records what it hands on.
type follower struct {
	mu     sync.Mutex
	ticks  []*model.Snapshot
	states []State
	cancel context.CancelFunc
	done   chan error
	c      *Client
}

func follow(t *testing.T, rawURL, token string) *follower {
	t.Helper()
	u, err := ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{done: make(chan error, 1)}
	f.c = New(Options{URL: u, Token: token, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() {
		f.done <- f.c.Run(ctx,
			func(s *model.Snapshot) { f.mu.Lock(); f.ticks = append(f.ticks, s); f.mu.Unlock() },
			func(s State) { f.mu.Lock(); f.states = append(f.states, s); f.mu.Unlock() })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-f.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return f
}

func (f *follower) last() (*model.Snapshot, State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s *model.Snapshot
	var st State
	if len(f.ticks) > 0 {
		s = f.ticks[len(f.ticks)-1]
	}
	if len(f.states) > 0 {
		st = f.states[len(f.states)-1]
	}
	return s, st
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollow: the client gets the latest tick at once, then each tick as
// the agent makes it; when the agent goes away it says so and tries again
// until an agent answers on the same address.
func TestFollow(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	a := startAgent(t, "127.0.0.1:0", "")
	a.srv.Consume(tickAt(t0, "before"))
	f := follow(t, "http://"+a.addr, "")
	eventually(t, "no first tick from /api/v1/apps", func() bool { s, _ := f.last(); return s != nil && s.Apps[0].App == "before" })
	eventually(t, "the client is not connected", func() bool { return a.srv.Clients() == 1 })
	a.srv.Consume(tickAt(t0.Add(time.Second), "curl"))
	eventually(t, "no tick over the WebSocket", func() bool {
		s, st := f.last()
		return s != nil && s.Apps[0].App == "curl" && s.Apps[0].BytesIn == 1234 && st.Connected
	})

	a.stop()
	eventually(t, "the client does not say the agent is gone", func() bool {
		_, st := f.last()
		return !st.Connected && st.Err != nil && !st.Retry.IsZero()
	})
	_, st := f.last()
	t.Logf("agent gone: %v", st.Err)
	eventually(t, "the client does not keep trying while the agent is away (want 2 attempts or more)", func() bool {
		_, st := f.last()
		return st.Attempts >= 2
	})

	b := startAgent(t, a.addr, "")
	eventually(t, "the client does not come back", func() bool { return b.srv.Clients() == 1 })
	b.srv.Consume(tickAt(t0.Add(time.Hour), "after"))
	eventually(t, "no tick from the new agent", func() bool {
		s, st := f.last()
		return s != nil && s.Apps[0].App == "after" && st.Connected
	})
}

// TestToken: an agent with a token refuses a client without it, and says
// so; with it, the ticks and the processes come.
func TestToken(t *testing.T) {
	a := startAgent(t, "127.0.0.1:0", "s3cret")
	a.srv.Consume(tickAt(time.Unix(1, 0), "curl"))
	without := follow(t, "http://"+a.addr+"/", "")
	eventually(t, "no error without the token", func() bool {
		_, st := without.last()
		return errors.Is(st.Err, ErrUnauthorized)
	})
	_, st := without.last()
	if !strings.Contains(st.Err.Error(), "missing or wrong token") {
		t.Errorf("the error does not carry the agent's message: %v", st.Err)
	}
	with := follow(t, a.addr, "s3cret")
	eventually(t, "no tick with the token", func() bool { s, _ := with.last(); return s != nil })

	ctx := context.Background()
	ps, err := with.c.Processes(ctx, "curl")
	if err != nil || len(ps) != 1 || ps[0].PID != 77 || ps[0].User.Name != "root" {
		t.Fatalf("Processes(curl) = %+v, %v", ps, err)
	}
	if _, err := with.c.Processes(ctx, "nope & co"); err == nil || !strings.Contains(err.Error(), `unknown app "nope & co"`) {
		t.Fatalf("Processes of an unknown app: %v", err)
	}
	if _, err := without.c.Processes(ctx, "curl"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Processes without the token: %v", err)
	}
}

// TestRunLeavesNothingBehind: once Run has returned, the client's
// connections are closed, the kept-alive ones of its HTTP requests too, and
// no goroutine of its own is left.
func TestRunLeavesNothingBehind(t *testing.T) {
	a := startAgent(t, "127.0.0.1:0", "")
	a.srv.Consume(tickAt(time.Unix(1, 0), "curl"))
	before := runtime.NumGoroutine()
	u, err := ParseURL(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{URL: u})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ticks := make(chan struct{}, 100)
	go func() {
		done <- c.Run(ctx, func(*model.Snapshot) { ticks <- struct{}{} }, func(State) {})
	}()
	<-ticks
	if _, err := c.Processes(ctx, "curl"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	eventually(t, "goroutines left after Run returned", func() bool { return runtime.NumGoroutine() <= before })
}

func TestBackoff(t *testing.T) {
	c := New(Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	tests := []struct {
		name     string
		attempts int
		want     time.Duration
	}{
		{"first", 0, 100 * time.Millisecond},
		{"doubles", 2, 400 * time.Millisecond},
		{"at most max", 10, time.Second},
		{"many", 1 << 20, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				if d := c.backoff(tt.attempts); d < tt.want*8/10 || d > tt.want*12/10 {
					t.Fatalf("backoff(%d) = %s, want %s ± 20%%", tt.attempts, d, tt.want)
				}
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"full", "http://127.0.0.1:8000/", "http://127.0.0.1:8000/", ""},
		{"no slash", "http://127.0.0.1:8000", "http://127.0.0.1:8000/", ""},
		{"no scheme", "localhost:8000", "http://localhost:8000/", ""},
		{"ipv6", "[::1]:8000", "http://[::1]:8000/", ""},
		{"behind a proxy", "https://host.example/bwmon", "https://host.example/bwmon/", ""},
		{"empty", "", "", "empty"},
		{"ftp", "ftp://host/", "", "http or https"},
		{"user", "http://me:pw@host/", "", "-token"},
		{"query", "http://host/?token=x", "", "no query"},
		{"no host", "http:///x", "", "no host"},
		{"port only", ":8000", "", "bad agent URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseURL(%q) = %v, %v; want an error saying %q", tt.in, u, err, tt.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("ParseURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8000/", "localhost:1", "https://h/p%2f?", "[::1", "http://a@b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" ||
			!strings.HasSuffix(u.Path, "/") {
			t.Fatalf("ParseURL(%q) = %v", s, u)
		}
		live := endpoint(u, "api/v1/live")
		if !strings.HasSuffix(live.Path, "/api/v1/live") || live.Host != u.Host {
			t.Fatalf("the live endpoint of %v is %v", u, live)
		}
	})
}
