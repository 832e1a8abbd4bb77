package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bwmon/bwmon/model"
)

// Defaults of Options.
const (
	DefaultListen          = "127.0.0.1:8000"
	DefaultSendQueue       = 16
	DefaultPingInterval    = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Options configure a Server. The zero value serves on DefaultListen
// without a token.
type Options struct {
	// Listen is the address Serve's listener should have; it decides
	// whether the Host header is checked (a loopback address accepts only
	// loopback host names and the hosts of AllowedOrigins).
	Listen string
	// Token, when set, must come with every request for data, as
	// "Authorization: Bearer TOKEN" (or, for /api/v1/live, the
	// "bearer.BASE64URL" WebSocket subprotocol).
	Token string
	// AllowedOrigins lists the origins ("https://dash.example:3000")
	// besides the agent's own whose pages may open /api/v1/live.
	AllowedOrigins []string
	// NotifyStats, when set, reports the notifier's counters for /metrics.
	NotifyStats func() model.NotifyStats
	// Usage, when set, serves GET /api/v1/usage (daily and monthly totals
	// from the state store), behind the same token and host checks.
	Usage UsageSource
	// Processes, when set, returns an app's live processes (the
	// aggregator's Processes) for GET /api/v1/processes.
	Processes func(app string) []model.ProcessUsage
	// MaxApps bounds the apps whose history is kept, the largest by
	// volume (DefaultMaxApps: model.DefaultLimitHistoryApps).
	MaxApps int
	// MaxClients bounds the WebSocket clients served at once; more are
	// refused with 503 and Retry-After (model.DefaultLimitWebSocketClients).
	MaxClients int
	// SendQueue is each WebSocket client's queue of ticks; a client whose
	// queue is full when a tick comes is dropped (DefaultSendQueue).
	SendQueue int
	// PingInterval is how often idle WebSocket clients are pinged; one
	// that answers no ping for two intervals is dropped
	// (DefaultPingInterval).
	PingInterval time.Duration
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// when its context ends (DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// Logger receives the server's logs (none when nil).
	Logger *slog.Logger
}

// Server serves the latest tick, the history, the live WebSocket, the
// metrics and the page. It is an aggregator.Consumer.
type Server struct {
	opts     Options
	log      *slog.Logger
	guard    *guard
	upgrader websocket.Upgrader
	history  *History
	links    *History // the interface graph's (links.go)
	hub      *hub
	skip     *skipper // samples /metrics left out
	tickHist prometheus.Histogram
	handler  http.Handler

	latest atomic.Pointer[tick]

	closeOnce sync.Once
}

// tick is a snapshot and its JSON encoding, made once.
type tick struct {
	snap *model.Snapshot
	json []byte
}

// New checks opts and returns a Server. It starts nothing: Serve does.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = model.DefaultLimitWebSocketClients
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = DefaultSendQueue
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "http")
	g, err := newGuard(opts.Token, opts.Listen, opts.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     logger,
		guard:   g,
		history: NewHistory(opts.MaxApps),
		links:   NewHistory(MaxLinkSeries + 2),
		hub:     newHub(logger, opts.MaxClients, opts.SendQueue, opts.PingInterval),
		skip:    newSkipper(logger),
	}
	s.upgrader = websocket.Upgrader{
		CheckOrigin:  g.checkOrigin,
		Subprotocols: []string{wsProtocol},
		// Ticks are small and frequent; compression would cost the tick
		// goroutine for little.
		EnableCompression: false,
	}
	reg, hist := newRegistry(s)
	s.tickHist = hist

	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/apps", g.wrap(http.HandlerFunc(s.serveApps), false))
	mux.Handle("GET /api/v1/history", g.wrap(http.HandlerFunc(s.serveHistory), false))
	mux.Handle("GET /api/v1/histories", g.wrap(http.HandlerFunc(s.serveHistories), false))
	mux.Handle("GET /api/v1/live", g.wrap(http.HandlerFunc(s.serveLive), false))
	mux.Handle("GET /api/v1/stats", g.wrap(http.HandlerFunc(s.serveStats), false))
	mux.Handle("GET /api/v1/processes", g.wrap(http.HandlerFunc(s.serveProcesses), false))
	mux.Handle("GET /api/v1/interfaces", g.wrap(http.HandlerFunc(s.serveInterfaces), false))
	if opts.Usage != nil {
		mux.Handle("GET /api/v1/usage", g.wrap(usageHandler(opts.Usage), false))
	}
	mux.Handle("GET /metrics", g.wrap(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Serve what could be gathered rather than a 500: the collector
		// leaves out what it cannot serve, and this covers the rest.
		ErrorHandling: promhttp.ContinueOnError,
	}), false))
	mux.Handle("GET /api/", g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: see /api/v1/apps, /api/v1/history, /api/v1/histories, /api/v1/processes, /api/v1/interfaces, /api/v1/live, /api/v1/stats")
	}), false))
	mux.Handle("GET /", g.wrap(pageHandler(), true))
	s.handler = mux
	return s, nil
}

// Handler returns the server's HTTP handler, which Serve serves: an
// *http.ServeMux of the routes above, to serve from another http.Server or
// to ask which route a path takes.
func (s *Server) Handler() http.Handler { return s.handler }

// Clients returns the number of WebSocket clients connected now.
func (s *Server) Clients() int { return s.hub.count() }

// Consume records a tick: it keeps the snapshot and its JSON for
// /api/v1/apps, appends to the history, and queues one prepared WebSocket
// message for every client. It never waits for a client. The aggregator
// hands it clean names and at most Agent.Limits.Apps apps by name; snap is
// not changed.
func (s *Server) Consume(snap *model.Snapshot) {
	b, err := encodeTick(snap)
	if err != nil {
		s.log.Warn("encoding tick", "err", err)
		return
	}
	s.latest.Store(&tick{snap: snap, json: b})
	s.history.Add(snap)
	if rs := linkRates(snap); rs != nil {
		s.links.AddRates(snap.Time, snap.IntervalS, rs)
	}
	observeTick(s.tickHist, snap.Agent.TickDuration)
	if s.hub.count() == 0 {
		return
	}
	msg, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		s.log.Warn("preparing websocket message", "err", err)
		return
	}
	s.hub.broadcast(msg)
}

// Serve answers HTTP on ln until ctx is done, then stops accepting, gives
// requests in flight up to ShutdownTimeout, disconnects the WebSocket
// clients and returns once all of its goroutines have exited. It closes ln.
// A Server serves once: after Serve returns it is closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A reader that stalls a response is cut off; the WebSocket
		// upgrade clears this deadline and sets its own per write.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("serving http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		if e := hs.Shutdown(sctx); e != nil {
			s.log.Warn("requests still running at shutdown", "err", e)
			hs.Close()
		}
		cancel()
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = fmt.Errorf("serving http on %s: %w", ln.Addr(), e)
		}
	}
	s.Close()
	return err
}

// Close disconnects every WebSocket client and blocks until their
// goroutines have exited; clients that arrive later are turned away. It
// does not stop Serve (cancel its context). Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.hub.close)
	return nil
}

// retryAfterFull is the Retry-After, in seconds, of a WebSocket upgrade
// refused for MaxClients.
const retryAfterFull = "30"

func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) {
	if !s.hub.reserve() {
		s.hub.refuse(r.RemoteAddr)
		w.Header().Set("Retry-After", retryAfterFull)
		writeError(w, http.StatusServiceUnavailable,
			"too many live clients: this agent serves %d at once ([limits] websocket_clients); retry later", s.hub.max)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.hub.release()
		// The upgrader has answered (403 for a foreign Origin, 400 for
		// a plain GET).
		s.log.Debug("refusing websocket", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	s.hub.serve(conn)
}

// limits returns the bounds the agent runs with, as the latest tick tells
// them (defaults before the first), with the server's own in place of the
// tick's: the history's and the WebSocket clients', which it enforces.
func (s *Server) limits() model.Limits {
	var l model.Limits
	if t := s.latest.Load(); t != nil {
		l = t.snap.Agent.Limits
	}
	l = l.WithDefaults()
	l.HistoryApps = s.history.maxApps
	l.WebSocketClients = s.hub.max
	return l
}

// encodeTick is the JSON of a tick, without the HTML escapes of <, > and &
// (which would make a name of them six times as long): the page sets names
// only as text.
func encodeTick(snap *model.Snapshot) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(snap); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
