package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bwmon/bwmon/internal/state"
)

// UsageSource is what GET /api/v1/usage reads: the state store
// (*state.Store).
type UsageSource interface {
	// History returns what the store holds from the local day of from on
	// (zero: every day it keeps), counts not yet written included.
	History(from time.Time) (*state.History, error)
	// Clock returns the store's time now and the location its days begin
	// in, against which a since is read.
	Clock() (time.Time, *time.Location)
}

// UsageQuery is what GET /api/v1/usage asks for.
type UsageQuery struct {
	Period string    // "day" or "month"
	From   time.Time // zero: every day the store keeps
	Apps   int       // apps listed by name in each period; 0: all
}

// ParseUsageQuery reads the query of GET /api/v1/usage at time now in loc:
// period=day|month (default day), since (see state.ParseSince; default:
// every day kept), apps=N (default state.DefaultUsageApps; 0 lists every
// app the store holds).
func ParseUsageQuery(q url.Values, now time.Time, loc *time.Location) (UsageQuery, error) {
	uq := UsageQuery{Period: q.Get("period"), Apps: state.DefaultUsageApps}
	if uq.Period == "" {
		uq.Period = "day"
	}
	if uq.Period != "day" && uq.Period != "month" {
		return uq, fmt.Errorf("bad period %.64q: want day or month", uq.Period)
	}
	if v := q.Get("since"); v != "" {
		t, err := state.ParseSince(v, now, loc)
		if err != nil {
			return uq, err
		}
		uq.From = t
	}
	if v := q.Get("apps"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return uq, fmt.Errorf("bad apps %.64q: want a number of apps, 0 for all", v)
		}
		uq.Apps = n
	}
	return uq, nil
}

// usageHandler serves GET
// /api/v1/usage?period=day|month[&since=7d][&apps=20]: the bytes of each
// app per day (default) or month, from src, counts not yet flushed
// included, as a state.Usage (see ParseUsageQuery). Without since it
// returns every day the store keeps. Errors are JSON {"error": "..."}: 400
// for a bad query, 405 for a method other than GET or HEAD, 503 once the
// store is closed.
func usageHandler(src UsageSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		now, loc := src.Clock()
		uq, err := ParseUsageQuery(r.URL.Query(), now, loc)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		h, err := src.History(uq.From)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "%v", err)
			return
		}
		u, err := h.Usage(uq.Period, uq.Apps)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, u)
	})
}
