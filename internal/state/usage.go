package state

import (
	"cmp"
	"fmt"
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
	// Apps is sorted by bytes in plus out, largest first, at most the
	// number asked for (see History.Usage) and then model.OtherApp, last,
	// with the bytes of the rest: the apps beyond that number and those
	// the agent or the store folded already.
	Apps         []AppBytes        `json:"apps"`
	Unattributed UnattributedBytes `json:"unattributed"`
	// BytesIn and BytesOut sum the apps and the unattributed bytes: this
	// host's own traffic, not what it forwarded.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Forwarded is what the host routed between other hosts.
	Forwarded ForwardedBytes `json:"forwarded"`
	// Classes splits the apps' bytes by the destination class of the
	// remote end: by class name, then the apps that sent the most to it
	// first, at most the number of apps asked for in each class, and then
	// model.OtherApp's row with the rest. Only the bytes of monitors that
	// know the remote end are in a class (not a pipe's).
	Classes []ClassBytes `json:"classes"`
}

// AppBytes is one app's bytes in a period.
type AppBytes struct {
	// App is the app's name, clean (safename.Clean).
	App      string `json:"app"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Folded is, on the OtherApp line only, how many of the period's
	// apps this listing folded into it (beyond the number asked for).
	Folded int `json:"folded,omitempty"`
}

// DefaultUsageApps is how many apps a period of GET /api/v1/usage and of
// `bwmon report` lists by name unless asked otherwise.
const DefaultUsageApps = 20

// UnattributedBytes is a period's unattributed bytes, with each reason's.
type UnattributedBytes struct {
	BytesIn  uint64                                 `json:"bytes_in"`
	BytesOut uint64                                 `json:"bytes_out"`
	Reasons  map[model.Reason]model.UnattributedSum `json:"reasons"`
}

// Usage sums h's days by period: "day" or "month". Each period lists its
// apps largest first, at most apps of them (0: every app h holds), and
// then one model.OtherApp line with the rest.
func (h *History) Usage(period string, apps int) (*Usage, error) {
	var keyLen int
	switch period {
	case "day":
		keyLen = len("2006-01-02")
	case "month":
		keyLen = len("2006-01")
	default:
		return nil, fmt.Errorf("bad period %q: want day or month", period)
	}
	if apps < 0 {
		return nil, fmt.Errorf("bad number of apps %d: want 0 (all) or more", apps)
	}
	u := &Usage{Period: period, Since: h.Since, Periods: []PeriodUsage{}, Total: periodUsage(h.Since.Format(time.RFC3339), h.Totals, apps)}
	var cur counts
	flush := func(start string) {
		if cur == nil {
			return
		}
		u.Periods = append(u.Periods, periodUsage(start, cur, apps))
	}
	var start string
	for _, d := range h.Days { // oldest first
		if !validDate([]byte(d.Date)) {
			continue
		}
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

// periodUsage makes a period of the counts c, listing at most n apps by
// name and n pairs of forwarding hosts (0: all).
func periodUsage(start string, c counts, n int) PeriodUsage {
	apps, unatt := c.split()
	p := PeriodUsage{Start: start, Apps: make([]AppBytes, 0, len(apps)), Unattributed: UnattributedBytes{Reasons: unatt}, Forwarded: c.forwarded(), Classes: c.classes(n)}
	p.Forwarded.fold(n)
	other, haveOther := apps[model.OtherApp]
	delete(apps, model.OtherApp)
	for name, t := range apps {
		p.Apps = append(p.Apps, AppBytes{App: name, BytesIn: t.In, BytesOut: t.Out})
	}
	slices.SortFunc(p.Apps, func(x, y AppBytes) int {
		return cmp.Or(cmp.Compare(satAdd(y.BytesIn, y.BytesOut), satAdd(x.BytesIn, x.BytesOut)), cmp.Compare(x.App, y.App))
	})
	o := AppBytes{App: model.OtherApp, BytesIn: other.In, BytesOut: other.Out}
	if n > 0 && len(p.Apps) > n {
		for _, a := range p.Apps[n:] {
			o.BytesIn = satAdd(o.BytesIn, a.BytesIn)
			o.BytesOut = satAdd(o.BytesOut, a.BytesOut)
		}
		o.Folded = len(p.Apps) - n
		p.Apps = p.Apps[:n]
	}
	if haveOther || o.Folded > 0 {
		p.Apps = append(p.Apps, o)
	}
	for _, a := range p.Apps {
		p.BytesIn = satAdd(p.BytesIn, a.BytesIn)
		p.BytesOut = satAdd(p.BytesOut, a.BytesOut)
	}
	for _, sum := range unatt {
		p.Unattributed.BytesIn = satAdd(p.Unattributed.BytesIn, sum.BytesIn)
		p.Unattributed.BytesOut = satAdd(p.Unattributed.BytesOut, sum.BytesOut)
	}
	p.BytesIn = satAdd(p.BytesIn, p.Unattributed.BytesIn)
	p.BytesOut = satAdd(p.BytesOut, p.Unattributed.BytesOut)
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
	return time.Time{}, fmt.Errorf("bad since %.64q: write a number of days (\"7d\"), a duration (\"36h\") or a date (\"2025-06-01\")", s)
}
