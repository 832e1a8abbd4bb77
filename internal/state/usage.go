package state

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Usage is the JSON answer of GET /api/v1/usage and of `bwmon report
// -json`: the bytes of each app, the unattributed bytes and the forwarded
// bytes in each day or month.
type Usage struct {
	// Period is "day" or "month".
	Period string `json:"period"`
	// Since is when the store began: no period holds bytes from before it.
	Since time.Time `json:"since"`
	// Periods holds the days ("2006-01-02") or months ("2006-01"), local
	// time, oldest first. The oldest month may be partial: a store keeps
	// daily counts for KeepDays.
	Periods []PeriodUsage `json:"periods"`
	// Total is the cumulative bytes since Since (its Start is Since in
	// RFC 3339): what the agent's totals continue from.
	Total PeriodUsage `json:"total"`
}

// PeriodUsage is one day's or month's bytes.
type PeriodUsage struct {
	Start string `json:"start"`
	// Apps is sorted by bytes in plus out, largest first.
	Apps         []AppBytes        `json:"apps"`
	Unattributed UnattributedBytes `json:"unattributed"`
	// BytesIn and BytesOut sum the apps and the unattributed bytes: this
	// host's own traffic, not what it forwarded.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Forwarded is what the host routed between other hosts.
	Forwarded ForwardedBytes `json:"forwarded"`
}

// AppBytes is one app's bytes in a period.
type AppBytes struct {
	App      string `json:"app"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// UnattributedBytes is a period's unattributed bytes, with each reason's.
type UnattributedBytes struct {
	BytesIn  uint64                                 `json:"bytes_in"`
	BytesOut uint64                                 `json:"bytes_out"`
	Reasons  map[model.Reason]model.UnattributedSum `json:"reasons"`
}

// Usage sums h's days by period: "day" or "month".
func (h *History) Usage(period string) (*Usage, error) {
	var keyLen int
	switch period {
	case "day":
		keyLen = len("2006-01-02")
	case "month":
		keyLen = len("2006-01")
	default:
		return nil, fmt.Errorf("bad period %q: want day or month", period)
	}
	u := &Usage{Period: period, Since: h.Since, Periods: []PeriodUsage{}, Total: periodUsage(h.Since.Format(time.RFC3339), h.Totals)}
	var cur counts
	flush := func(start string) {
		if cur == nil {
			return
		}
		u.Periods = append(u.Periods, periodUsage(start, cur))
	}
	var start string
	for _, d := range h.Days { // oldest first
		if k := d.Date[:keyLen]; k != start {
			flush(start)
			start, cur = k, make(counts)
		}
		for key, t := range d.Counts {
			cur.add(key, t.In, t.Out)
		}
	}
	flush(start)
	return u, nil
}

func periodUsage(start string, c counts) PeriodUsage {
	apps, unatt := c.split()
	p := PeriodUsage{Start: start, Apps: make([]AppBytes, 0, len(apps)), Unattributed: UnattributedBytes{Reasons: unatt}, Forwarded: c.forwarded()}
	for name, t := range apps {
		p.Apps = append(p.Apps, AppBytes{App: name, BytesIn: t.In, BytesOut: t.Out})
		p.BytesIn += t.In
		p.BytesOut += t.Out
	}
	slices.SortFunc(p.Apps, func(x, y AppBytes) int {
		if c := cmp.Compare(y.BytesIn+y.BytesOut, x.BytesIn+x.BytesOut); c != 0 {
			return c
		}
		return cmp.Compare(x.App, y.App)
	})
	for _, sum := range unatt {
		p.Unattributed.BytesIn += sum.BytesIn
		p.Unattributed.BytesOut += sum.BytesOut
	}
	p.BytesIn += p.Unattributed.BytesIn
	p.BytesOut += p.Unattributed.BytesOut
	return p
}

// ParseSince reads how far back to look: a number of days ("7d": today
// and the 6 days before), a Go duration ("36h": the days it reaches into),
// or a local date ("2025-06-01").
func ParseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 1 {
			return now.AddDate(0, 0, -(d - 1)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation(dateLayout, s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad since %q: write a number of days (\"7d\"), a duration (\"36h\") or a date (\"2025-06-01\")", s)
}

// UsageHandler serves GET /api/v1/usage?period=day|month[&since=7d]: the
// bytes of each app per day (default) or month, from the store, counts not
// yet flushed included, as a Usage. Without since it returns every day the
// store keeps. Errors are JSON {"error": "..."}: 400 for a bad query, 405
// for a method other than GET or HEAD, 503 once the store is closed.
func UsageHandler(s *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"})
			return
		}
		q := r.URL.Query()
		period := q.Get("period")
		if period == "" {
			period = "day"
		}
		if period != "day" && period != "month" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad period %q: want day or month", period)})
			return
		}
		from := time.Time{}
		if v := q.Get("since"); v != "" {
			t, err := ParseSince(v, s.opts.Now(), s.opts.Location)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			from = t
		}
		h, err := s.History(from)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		u, err := h.Usage(period)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, u)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
