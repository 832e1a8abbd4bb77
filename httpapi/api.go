package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// serveApps answers GET /api/v1/apps with the latest tick, the JSON object
// `bwmon -output json` prints.
func (s *Server) serveApps(w http.ResponseWriter, r *http.Request) {
	t := s.latest.Load()
	if t == nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no tick yet: the agent has just started, try again in a second")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(t.json)
}

// historyReply is the body of GET /api/v1/history.
type historyReply struct {
	App string `json:"app"`
	// SinceS is the span asked for, in seconds.
	SinceS float64 `json:"since_s"`
	// ResolutionS is 1 (points of about a second, each one tick or a few
	// short ones) or 60 (minute points with peaks).
	ResolutionS float64 `json:"resolution_s"`
	Points      []Point `json:"points"`
}

// serveHistory answers GET /api/v1/history?app=NAME&since=15m.
func (s *Server) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app := q.Get("app")
	if app == "" {
		writeError(w, http.StatusBadRequest, "missing app: ask for /api/v1/history?app=NAME&since=15m")
		return
	}
	since, err := ParseSince(q.Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	points, res, ok := s.history.Query(app, since)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown app %q: /api/v1/apps lists the apps", app)
		return
	}
	writeJSON(w, http.StatusOK, historyReply{App: app, SinceS: since.Seconds(), ResolutionS: res.Seconds(), Points: points})
}

// MaxHistoryApps bounds the apps of one GET /api/v1/histories: the page
// draws at most seven at once and asks for at most thirteen when it
// (re)connects.
const MaxHistoryApps = 16

// historiesReply is the body of GET /api/v1/histories.
type historiesReply struct {
	SinceS      float64 `json:"since_s"`
	ResolutionS float64 `json:"resolution_s"`
	// Apps holds the apps asked for that the agent knows, in the order
	// asked, each once.
	Apps []AppHistory `json:"apps"`
	// Unknown lists the apps asked for that it does not know.
	Unknown []string `json:"unknown"`
}

// serveHistories answers GET /api/v1/histories?app=A&app=B&since=15m: the
// history of up to MaxHistoryApps apps in one request. An app the agent
// does not know (it went away since the page asked) is listed in unknown
// rather than failing the others.
func (s *Server) serveHistories(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	apps, err := parseHistoryApps(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	since, err := ParseSince(q.Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	hs, unknown, res := s.history.QueryMany(apps, since)
	writeJSON(w, http.StatusOK, historiesReply{SinceS: since.Seconds(), ResolutionS: res.Seconds(), Apps: hs, Unknown: unknown})
}

// parseHistoryApps reads the app parameters of GET /api/v1/histories: at
// least one, at most MaxHistoryApps different ones, none empty or longer
// than a name can be (safename.MaxLen); a repeated app counts once.
func parseHistoryApps(q url.Values) ([]string, error) {
	vs := q["app"]
	if len(vs) == 0 {
		return nil, fmt.Errorf("missing app: ask for /api/v1/histories?app=NAME&app=OTHER&since=15m")
	}
	apps := make([]string, 0, min(len(vs), MaxHistoryApps))
	seen := make(map[string]bool, len(apps))
	for _, a := range vs {
		switch {
		case a == "":
			return nil, fmt.Errorf("empty app: give each app=NAME a name from /api/v1/apps")
		case len(a) > safename.MaxLen:
			return nil, fmt.Errorf("app name of %d bytes: no app has a name longer than %d bytes", len(a), safename.MaxLen)
		case seen[a]:
			continue
		case len(apps) == MaxHistoryApps:
			return nil, fmt.Errorf("too many apps: at most %d a request, ask again for the others", MaxHistoryApps)
		}
		seen[a] = true
		apps = append(apps, a)
	}
	return apps, nil
}

// ParseSince reads the since parameter: a Go duration ("90s", "15m", "6h")
// or a number of days ("1d"), more than zero and at most CoarseWindow;
// empty means FineWindow.
func ParseSince(v string) (time.Duration, error) {
	if v == "" {
		return FineWindow, nil
	}
	var d time.Duration
	if n, ok := parseDays(v); ok {
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("bad since %q: write a duration such as \"90s\", \"15m\", \"6h\" or \"1d\"", v)
		}
	}
	if d <= 0 || d > CoarseWindow {
		return 0, fmt.Errorf("bad since %q: must be more than 0 and at most 24h (the history kept)", v)
	}
	return d, nil
}

func parseDays(v string) (int, bool) {
	if len(v) < 2 || v[len(v)-1] != 'd' {
		return 0, false
	}
	n := 0
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' || n > 1000 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

type errorReply struct {
	Error string `json:"error"`
}

// writeError answers with status and {"error": "..."}.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorReply{Error: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// processesReply is the body of GET /api/v1/processes.
type processesReply struct {
	App string `json:"app"`
	// Time is the end of the tick the rates are over.
	Time      time.Time            `json:"time"`
	Processes []model.ProcessUsage `json:"processes"`
}

// serveProcesses answers GET /api/v1/processes?app=NAME: the app's live
// processes, busiest first (at most aggregator.MaxProcesses).
func (s *Server) serveProcesses(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app == "" {
		writeError(w, http.StatusBadRequest, "missing app: ask for /api/v1/processes?app=NAME")
		return
	}
	if s.opts.Processes == nil {
		writeError(w, http.StatusNotFound, "this agent does not list processes")
		return
	}
	ps := s.opts.Processes(app)
	if ps == nil {
		writeError(w, http.StatusNotFound, "unknown app %q: /api/v1/apps lists the apps", app)
		return
	}
	rep := processesReply{App: app, Processes: ps}
	if t := s.latest.Load(); t != nil {
		rep.Time = t.snap.Time
	}
	writeJSON(w, http.StatusOK, rep)
}
