package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bwmon/bwmon/model"
)

// Defaults of Options.
const (
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultIdleTimeout = 75 * time.Second // the agent pings every 30 s
	// MaxTick bounds a tick read, in bytes.
	MaxTick = 64 << 20
	// MaxProcesses bounds the processes kept of one answer.
	MaxProcesses = 1000
)

// ErrUnauthorized is the agent refusing the token (HTTP 401), or asking for
// one that was not given.
var ErrUnauthorized = errors.New("the agent wants its [http] token")

// ErrForbidden is the agent refusing the request (HTTP 403): on loopback,
// a Host header that names another host.
var ErrForbidden = errors.New("the agent refused the request")

// Options configure a Client.
type Options struct {
	// URL is the agent's address, as ParseURL reads it.
	URL *url.URL
	// Token is the agent's [http] token; "" sends none.
	Token string
	// MinBackoff and MaxBackoff bound the wait between two attempts to
	// connect, which doubles from one to the other (DefaultMinBackoff,
	// DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout drops a connection on which nothing (tick or ping) came
	// for that long, and makes a new one (DefaultIdleTimeout).
	IdleTimeout time.Duration
}

// Client follows one agent.
type Client struct {
	opts Options
	http *http.Client
	ws   websocket.Dialer
}

// State is where the client stands, as Run reports it.
type State struct {
	// Connected is set once the WebSocket is open.
	Connected bool
	// Err is why the last connection ended or failed; nil when connected.
	Err error
	// Retry is when the next attempt is due, when not connected.
	Retry time.Time
	// Attempts counts the attempts that failed in a row.
	Attempts int
}

// New returns a Client of the agent at opts.URL.
func New(opts Options) *Client {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	return &Client{opts: opts,
		// A transport of its own, whose kept-alive connections Run closes
		// when it returns.
		http: &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		ws: websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second,
			Subprotocols: []string{"bwmon"}},
	}
}

// Run follows the agent until ctx is done, handing each tick to tick and
// each change of state to state, both from Run's goroutine. When the agent
// goes away or cannot be reached it tries again, waiting MinBackoff, then
// twice as long each time, up to MaxBackoff (with a fifth of jitter); a
// connection that delivered a tick starts the waits over. It returns nil
// when ctx is done, after closing its connections (those Processes left
// open for reuse too).
func (c *Client) Run(ctx context.Context, tick func(*model.Snapshot), state func(State)) error {
	defer c.http.CloseIdleConnections()
	attempts := 0
	for {
		delivered, err := c.follow(ctx, tick, state)
		if ctx.Err() != nil {
			return nil
		}
		if delivered {
			attempts = 0
		}
		wait := c.backoff(attempts)
		attempts++
		state(State{Err: err, Retry: time.Now().Add(wait), Attempts: attempts})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is the wait after n attempts failed in a row.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.MinBackoff
	for range n {
		d *= 2
		if d >= c.opts.MaxBackoff {
			d = c.opts.MaxBackoff
			break
		}
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// follow makes one connection and reads ticks from it until it fails or
// ctx is done. It reports whether it delivered a tick.
func (c *Client) follow(ctx context.Context, tick func(*model.Snapshot), state func(State)) (bool, error) {
	u := endpoint(c.opts.URL, "api/v1/live")
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	conn, resp, err := c.ws.DialContext(ctx, u.String(), c.header())
	if err != nil {
		if resp != nil {
			return false, answerError(resp)
		}
		return false, fmt.Errorf("connecting to %s: %w", redact(u), err)
	}
	defer conn.Close()
	// A blocked read is released by closing the connection.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	state(State{Connected: true})

	var last time.Time
	delivered := false
	deliver := func(s *model.Snapshot) {
		if s.Time.After(last) || last.IsZero() {
			last = s.Time
			delivered = true
			tick(s)
		}
	}
	// The latest tick at once, rather than at the next: an agent's
	// interval may be long.
	if s, err := c.latest(ctx); err == nil {
		deliver(s)
	}

	conn.SetReadLimit(MaxTick)
	idle := c.opts.IdleTimeout
	_ = conn.SetReadDeadline(time.Now().Add(idle))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			if ctx.Err() != nil {
				return delivered, nil
			}
			return delivered, fmt.Errorf("the agent went away: %w", err)
		}
		var s model.Snapshot
		if err := json.NewDecoder(r).Decode(&s); err != nil {
			return delivered, fmt.Errorf("reading a tick from %s: %w", redact(u), err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		deliver(&s)
	}
}

// header carries the token.
func (c *Client) header() http.Header {
	h := http.Header{}
	if c.opts.Token != "" {
		h.Set("Authorization", "Bearer "+c.opts.Token)
	}
	return h
}

// get asks the agent for u and decodes its JSON answer into v.
func (c *Client) get(ctx context.Context, u *url.URL, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header = c.header()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", redact(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return answerError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxTick)).Decode(v); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", redact(u), err)
	}
	return nil
}

// latest is the agent's latest tick (GET /api/v1/apps).
func (c *Client) latest(ctx context.Context) (*model.Snapshot, error) {
	var s model.Snapshot
	if err := c.get(ctx, endpoint(c.opts.URL, "api/v1/apps"), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Processes returns the live processes of app, busiest first (GET
// /api/v1/processes), at most MaxProcesses of them.
func (c *Client) Processes(ctx context.Context, app string) ([]model.ProcessUsage, error) {
	var rep struct {
		Processes []model.ProcessUsage `json:"processes"`
	}
	u := endpoint(c.opts.URL, "api/v1/processes")
	u.RawQuery = url.Values{"app": {app}}.Encode()
	if err := c.get(ctx, u, &rep); err != nil {
		return nil, err
	}
	if len(rep.Processes) > MaxProcesses {
		rep.Processes = rep.Processes[:MaxProcesses]
	}
	if rep.Processes == nil {
		rep.Processes = []model.ProcessUsage{}
	}
	return rep.Processes, nil
}

// answerError says what the agent answered instead of what was asked:
// its status and the message of its {"error": …} body, cut short.
func answerError(resp *http.Response) error {
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body)
	msg := strings.TrimSpace(body.Error)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	err := fmt.Errorf("the agent answered %s", resp.Status)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		err = ErrUnauthorized
	case http.StatusForbidden:
		err = ErrForbidden
	}
	if msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// redact is u without what a log should not show (there is no user; a
// query holds the app's name at most).
func redact(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	return v.String()
}
