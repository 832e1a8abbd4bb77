package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bwmon/bwmon/model"
)

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/live" }

func dial(t *testing.T, url string, header http.Header, d *websocket.Dialer) *websocket.Conn {
	t.Helper()
	if d == nil {
		d = websocket.DefaultDialer
	}
	c, resp, err := d.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dialing %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reader collects the ticks a client receives, by their time.
type reader struct {
	mu    sync.Mutex
	times []time.Time
	err   error
	done  chan struct{}
}

func readAll(c *websocket.Conn) *reader {
	r := &reader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			var s model.Snapshot
			if err := json.Unmarshal(b, &s); err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			r.mu.Lock()
			r.times = append(r.times, s.Time)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

// TestLiveSlowClientDropped: a client that never reads fills its socket and
// its queue and is dropped, while a fast one receives every tick, in order,
// and Consume never waits.
func TestLiveSlowClientDropped(t *testing.T) {
	checkGoroutines(t)
	s, ts := newTestServer(t, Options{SendQueue: 4})
	fast := readAll(dial(t, wsURL(ts.URL), nil, nil))
	// The slow client's receive buffer is tiny, so it fills after a few
	// ticks rather than a few hundred.
	small := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}}
		return d.DialContext(ctx, network, addr)
	}}
	slow := dial(t, wsURL(ts.URL), nil, small)
	eventually(t, 5*time.Second, "two clients", func() bool { return s.Clients() == 2 })

	var worst time.Duration
	droppedAt := 0
	for i := 1; i <= 400 && (droppedAt == 0 || i <= droppedAt+10); i++ {
		tick := manyApps(t0.Add(time.Duration(i)*time.Second), 200, 1200) // ~250 KB of JSON
		begin := time.Now()
		s.Consume(tick)
		worst = max(worst, time.Since(begin))
		eventually(t, 5*time.Second, "the fast client to get the tick", func() bool { return fast.count() == i })
		if droppedAt == 0 && s.Dropped() > 0 {
			droppedAt = i
		}
	}
	if s.Dropped() != 1 {
		t.Fatalf("after %d ticks: %d clients dropped, want the slow one", fast.count(), s.Dropped())
	}
	if n := s.Clients(); n != 1 {
		t.Fatalf("%d clients connected, want 1 (the fast one)", n)
	}
	fast.mu.Lock()
	for i, tm := range fast.times {
		if want := t0.Add(time.Duration(i+1) * time.Second); !tm.Equal(want) {
			t.Fatalf("fast client's tick %d is %s, want %s: ticks lost or reordered", i, tm, want)
		}
	}
	fast.mu.Unlock()
	// Waiting on the stuck client would hold the tick for the 10 s write
	// timeout; encoding 250 KB takes a few milliseconds.
	if worst > 500*time.Millisecond {
		t.Errorf("Consume took up to %s with a stuck client; want well under a tick", worst)
	}
	t.Logf("slow client dropped at tick %d; the fast one got all %d; slowest Consume %s", droppedAt, fast.count(), worst)

	// The slow client finds its connection closed once it reads.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow client still connected: %v", err)
			}
			break
		}
	}
}

// TestLiveRestart: the server stops (clients get 1001, going away) and a
// new one comes up on the same address; the client reconnects and gets
// ticks again.
func TestLiveRestart(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	url := "ws://" + addr + "/api/v1/live"

	start := func(ln net.Listener) (*Server, func()) {
		s, err := New(Options{Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln) }()
		return s, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}

	s1, stop1 := start(ln)
	c := dial(t, url, nil, nil)
	eventually(t, 5*time.Second, "the client", func() bool { return s1.Clients() == 1 })
	s1.Consume(snap(t0, map[string][2]float64{"a": {1, 1}}))
	if _, b, err := c.ReadMessage(); err != nil || !strings.Contains(string(b), `"app":"a"`) {
		t.Fatalf("first server: %v %s", err, b)
	}
	stop1()
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after shutdown the client read %v, want close 1001 (going away)", err)
	}

	// Restart on the same address; the client retries as the page does.
	var c2 *websocket.Conn
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	s2, stop2 := start(ln2)
	defer stop2()
	eventually(t, 5*time.Second, "reconnecting", func() bool {
		c2, _, err = websocket.DefaultDialer.Dial(url, nil)
		return err == nil
	})
	defer c2.Close()
	eventually(t, 5*time.Second, "the client on the new server", func() bool { return s2.Clients() == 1 })
	s2.Consume(snap(t0.Add(time.Second), map[string][2]float64{"b": {1, 1}}))
	if _, b, err := c2.ReadMessage(); err != nil || !strings.Contains(string(b), `"app":"b"`) {
		t.Fatalf("second server: %v %s", err, b)
	}
}

// TestLivePing: a client that answers pings stays connected through idle
// time; one that answers none is dropped after two ping intervals.
func TestLivePing(t *testing.T) {
	checkGoroutines(t)
	const ping = 50 * time.Millisecond
	s, ts := newTestServer(t, Options{PingInterval: ping})
	alive := readAll(dial(t, wsURL(ts.URL), nil, nil)) // reading answers pings
	_ = dial(t, wsURL(ts.URL), nil, nil)               // never reads: no pongs
	eventually(t, 5*time.Second, "two clients", func() bool { return s.Clients() == 2 })
	eventually(t, 5*time.Second, "the silent client to be dropped", func() bool { return s.Clients() == 1 })
	time.Sleep(10 * ping) // idle, well past the pong deadline
	s.Consume(snap(t0, map[string][2]float64{"a": {1, 1}}))
	eventually(t, 5*time.Second, "the tick after idle time", func() bool { return alive.count() == 1 })
	if s.Dropped() != 0 {
		t.Errorf("Dropped() = %d: a silent client is not a slow one", s.Dropped())
	}
}

func TestLiveHandshake(t *testing.T) {
	const token = "t0k~en/ü" // needs base64 to travel as a subprotocol
	tests := []struct {
		name      string
		opts      Options
		origin    string
		protocols []string
		auth      string
		wantOK    bool
		wantCode  int
	}{
		{"no origin (not a browser)", Options{}, "", nil, "", true, 0},
		{"same origin", Options{}, "SAME", nil, "", true, 0},
		{"foreign origin", Options{}, "http://evil.example", nil, "", false, 403},
		{"lookalike origin", Options{}, "http://127.0.0.1.evil.example", nil, "", false, 403},
		{"allowed origin", Options{AllowedOrigins: []string{"https://Dash.example:3000"}}, "https://dash.example:3000", nil, "", true, 0},
		{"allowed origin, other port", Options{AllowedOrigins: []string{"https://dash.example:3000"}}, "https://dash.example:4000", nil, "", false, 403},
		{"token as subprotocol", Options{Token: token}, "SAME", []string{"bwmon", "bearer." + base64.RawURLEncoding.EncodeToString([]byte(token))}, "", true, 0},
		{"token as header", Options{Token: token}, "", nil, "Bearer " + token, true, 0},
		{"no token", Options{Token: token}, "SAME", []string{"bwmon"}, "", false, 401},
		{"token not base64", Options{Token: token}, "SAME", []string{"bwmon", "bearer." + token[:3]}, "", false, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, tt.opts)
			h := http.Header{}
			if tt.origin == "SAME" {
				h.Set("Origin", ts.URL)
			} else if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			d := &websocket.Dialer{Subprotocols: tt.protocols}
			c, resp, err := d.Dial(wsURL(ts.URL), h)
			if c != nil {
				defer c.Close()
			}
			if tt.wantOK != (err == nil) {
				t.Fatalf("dial error %v, want ok %v", err, tt.wantOK)
			}
			if !tt.wantOK {
				if resp == nil || resp.StatusCode != tt.wantCode {
					t.Fatalf("response %v, want status %d", resp, tt.wantCode)
				}
				return
			}
			if len(tt.protocols) > 0 && c.Subprotocol() != "bwmon" {
				t.Fatalf("server chose subprotocol %q, want \"bwmon\" (never the token)", c.Subprotocol())
			}
		})
	}
}

// TestCloseBlocksAndIsIdempotent: Close disconnects the clients, waits for
// their goroutines, and turns later ones away.
func TestCloseBlocksAndIsIdempotent(t *testing.T) {
	checkGoroutines(t)
	s, ts := newTestServer(t, Options{})
	r := readAll(dial(t, wsURL(ts.URL), nil, nil))
	eventually(t, 5*time.Second, "the client", func() bool { return s.Clients() == 1 })
	s.Close()
	s.Close()
	if n := s.Clients(); n != 0 {
		t.Fatalf("%d clients after Close", n)
	}
	<-r.done
	if !websocket.IsCloseError(r.err, websocket.CloseGoingAway) {
		t.Fatalf("client read %v, want close 1001", r.err)
	}
	c := dial(t, wsURL(ts.URL), nil, nil)
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("a client after Close read %v, want close 1001", err)
	}
	s.Consume(snap(t0, nil)) // no client, no panic
}

// BenchmarkConsume measures a tick of 200 apps fanned out to 4 WebSocket
// clients that keep up.
func BenchmarkConsume(b *testing.B) {
	s, err := New(Options{SendQueue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	defer s.Close()
	for i := 0; i < 4; i++ {
		c, _, err := websocket.DefaultDialer.Dial(wsURL(ts.URL), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	for s.Clients() < 4 {
		time.Sleep(time.Millisecond)
	}
	rates := map[string][2]float64{}
	for i := 0; i < 200; i++ {
		rates[fmt.Sprintf("app-%d", i)] = [2]float64{float64(i), 1}
	}
	sn := snap(t0, rates)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sn.Time = t0.Add(time.Duration(i) * time.Second)
		s.Consume(sn)
	}
}

// TestLiveMaxClients: beyond MaxClients an upgrade gets 503 with
// Retry-After and is counted; a place freed is taken again. Clients that
// arrive at once cannot slip past the cap together.
func TestLiveMaxClients(t *testing.T) {
	checkGoroutines(t)
	const maxClients = 3
	s, ts := newTestServer(t, Options{MaxClients: maxClients})

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []*websocket.Conn
	statuses := map[int]int{}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, resp, err := websocket.DefaultDialer.Dial(wsURL(ts.URL), nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				conns = append(conns, c)
				statuses[101]++
				return
			}
			if resp == nil {
				t.Errorf("dial: %v", err)
				return
			}
			statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if statuses[101] != maxClients || statuses[503] != 10-maxClients {
		t.Fatalf("10 clients at once: %v by status, want %d upgraded and %d refused", statuses, maxClients, 10-maxClients)
	}
	if s.Refused() != 10-maxClients || s.Clients() != maxClients {
		t.Fatalf("Refused() %d, Clients() %d; want %d, %d", s.Refused(), s.Clients(), 10-maxClients, maxClients)
	}
	fams := scrape(t, ts.URL)
	if got := value(t, fams, "bwmon_websocket_refused_total"); got != 10-maxClients {
		t.Errorf("bwmon_websocket_refused_total %v, want %d", got, 10-maxClients)
	}

	// One leaves: the next one gets in, the one after is refused.
	conns[0].Close()
	eventually(t, 5*time.Second, "the client to leave", func() bool { return s.Clients() == maxClients-1 })
	c := dial(t, wsURL(ts.URL), nil, nil)
	eventually(t, 5*time.Second, "the new client", func() bool { return s.Clients() == maxClients })
	s.Consume(snap(t0, map[string][2]float64{"a": {1, 1}}))
	if _, b, err := c.ReadMessage(); err != nil || !strings.Contains(string(b), `"app":"a"`) {
		t.Fatalf("the new client read %v %s", err, b)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(ts.URL), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a client beyond the cap: %v %v, want 503", err, resp)
	}
	// A failed upgrade (a plain GET) gives back the place it took.
	c.Close()
	eventually(t, 5*time.Second, "the client to leave", func() bool { return s.Clients() == maxClients-1 })
	for range 2 * maxClients {
		if r, body := get(t, ts.URL+"/api/v1/live"); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain GET: %d %s, want 400", r.StatusCode, body)
		}
	}
	dial(t, wsURL(ts.URL), nil, nil)
	eventually(t, 5*time.Second, "the last client", func() bool { return s.Clients() == maxClients })
}

// TestLiveWriteTimeout: a client whose socket stays full past the write
// timeout is dropped and counted as such, apart from the slow ones whose
// queue filled.
func TestLiveWriteTimeout(t *testing.T) {
	checkGoroutines(t)
	s, ts := newTestServer(t, Options{SendQueue: 1 << 10})
	s.hub.writeWait = 200 * time.Millisecond
	small := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}}
		return d.DialContext(ctx, network, addr)
	}}
	_ = dial(t, wsURL(ts.URL), nil, small) // never reads
	eventually(t, 5*time.Second, "the client", func() bool { return s.Clients() == 1 })
	for i := 0; s.Clients() > 0; i++ {
		if i > 200 {
			t.Fatal("the stuck client is still connected after 200 ticks")
		}
		s.Consume(manyApps(t0.Add(time.Duration(i)*time.Second), 200, 1200)) // ~250 KB of JSON
		time.Sleep(20 * time.Millisecond)
	}
	fams := scrape(t, ts.URL)
	if got := value(t, fams, "bwmon_websocket_dropped_total", "reason=write_timeout"); got != 1 {
		t.Errorf("dropped for a write timeout: %v, want 1", got)
	}
	if got := value(t, fams, "bwmon_websocket_dropped_total", "reason=slow"); got != 0 {
		t.Errorf("dropped for a full queue: %v, want 0", got)
	}
}
