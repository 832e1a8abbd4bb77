package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookServer answers each POST with the status of answer(n), n counting
// from 1, and keeps the bodies.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	types  []string
}

func startHookServer(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *hookServer {
	t.Helper()
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.types = append(s.types, r.Method+" "+r.Header.Get("Content-Type"))
		n := len(s.bodies)
		s.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) requests() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]string(nil), s.types...)
}

func status(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name         string
		answer       func(int, http.ResponseWriter, *http.Request)
		wantRequests int
		wantFailed   uint64
		wantLog      string
	}{
		{name: "delivered", answer: status(http.StatusNoContent), wantRequests: 1},
		{name: "two 500s then success", answer: status(500, 503, 200), wantRequests: 3},
		{name: "always failing is counted", answer: status(500), wantRequests: 3, wantFailed: 1,
			wantLog: `attempt 3 of 3): answer \"500 Internal Server Error\"`},
		{name: "429 is retried", answer: status(429, 200), wantRequests: 2},
		{name: "404 is not retried", answer: status(404), wantRequests: 1, wantFailed: 1,
			wantLog: `answer \"404 Not Found\", not retried`},
		{name: "a redirect is not followed", answer: func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, wantRequests: 1, wantFailed: 1, wantLog: "302 Found"},
		{name: "no answer times out and is retried", answer: func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-r.Context().Done()
				return
			}
			w.WriteHeader(200)
		}, wantRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHookServer(t, tt.answer)
			cfg := Config{Rules: []Rule{{
				App: regexp.MustCompile(`^backup$`), Out: 10e6, Window: 1, Cooldown: time.Hour,
				Webhook: srv.URL + "/hook/s3cr3t-token",
			}}}
			r := newRig(t, cfg, Options{WebhookTimeout: 200 * time.Millisecond, WebhookAttempts: 3, WebhookBackoff: 10 * time.Millisecond})
			r.feed(1, []usage{{"backup", 0, 12.4e6}})
			r.n.Close() // waits for the delivery and its retries

			bodies, types := srv.requests()
			if len(bodies) != tt.wantRequests {
				t.Fatalf("%d requests, want %d\nlog:\n%s", len(bodies), tt.wantRequests, r.log)
			}
			want := Event{Time: tickAt(1), App: "backup", Direction: Out, State: Firing, Rate: 12.4e6, Threshold: 10e6, Window: 1}
			for i, b := range bodies {
				var ev Event
				if err := json.Unmarshal([]byte(b), &ev); err != nil || ev != want {
					t.Fatalf("request %d body %q (%v), want %+v", i+1, b, err, want)
				}
				if types[i] != "POST application/json" {
					t.Fatalf("request %d: %q, want POST application/json", i+1, types[i])
				}
			}
			if s := r.n.Stats(); s.Failed != tt.wantFailed || s.Fired != 1 {
				t.Fatalf("stats = %+v, want 1 fired, %d failed\nlog:\n%s", s, tt.wantFailed, r.log)
			}
			log := r.log.String()
			if !strings.Contains(log, tt.wantLog) {
				t.Fatalf("log does not contain %q:\n%s", tt.wantLog, log)
			}
			if strings.Contains(log, "s3cr3t") {
				t.Fatalf("the log shows the webhook's path, which may hold a token:\n%s", log)
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1, Window: 1, Cooldown: time.Hour, Webhook: url}}}
	r := newRig(t, cfg, Options{WebhookAttempts: 2, WebhookBackoff: 10 * time.Millisecond})
	r.feed(1, []usage{{"x", 0, 100}})
	r.n.Close()
	if s := r.n.Stats(); s.Failed != 1 {
		t.Fatalf("stats = %+v, want the delivery failed\nlog:\n%s", s, r.log)
	}
	if !strings.Contains(r.log.String(), "connection refused") {
		t.Fatalf("log does not say why:\n%s", r.log)
	}
}

func TestCloseStopsWebhookRetries(t *testing.T) {
	srv := startHookServer(t, status(500))
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1, Window: 1, Cooldown: time.Hour, Webhook: srv.URL}}}
	r := newRig(t, cfg, Options{WebhookBackoff: time.Hour, ShutdownGrace: 50 * time.Millisecond})
	r.feed(1, []usage{{"x", 0, 100}})
	r.waitFor(t, "webhook request", func() bool { b, _ := srv.requests(); return len(b) > 0 })
	began := time.Now()
	r.n.Close()
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Close took %s with a retry an hour away, want about the 50ms grace", took)
	}
	if s := r.n.Stats(); s.Failed != 1 {
		t.Fatalf("stats = %+v, want the cut-short delivery counted failed", s)
	}
	if !strings.Contains(r.log.String(), "stopped at shutdown") {
		t.Fatalf("log does not say the delivery was stopped:\n%s", r.log)
	}
}
