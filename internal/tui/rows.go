package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// sortKey is what the rows are sorted by.
type sortKey int

// The sort keys, in the order < and > step through them; 1 to 6 choose
// sortRateIn to sortName, 0 sortBusiest.
const (
	// sortBusiest is the agent's order: by rate (in totals mode, by
	// total), then by total (rate), then by name.
	sortBusiest sortKey = iota
	sortRateIn
	sortRateOut
	sortTotalIn
	sortTotalOut
	// sortCount sorts apps by their number of processes (the largest
	// first), processes by PID (the smallest first).
	sortCount
	// sortName sorts apps by name, processes by command line.
	sortName
	numSortKeys
)

// ascending reports whether k's natural direction is from the smallest:
// names from A, and PIDs (sortCount in the processes view).
func (k sortKey) ascending(procs bool) bool {
	return k == sortName || (procs && k == sortCount)
}

// label names the key in the header.
func (k sortKey) label(totals bool) string {
	switch k {
	case sortRateIn:
		return "rate in"
	case sortRateOut:
		return "rate out"
	case sortTotalIn:
		return "total in"
	case sortTotalOut:
		return "total out"
	case sortCount:
		return "processes"
	case sortName:
		return "name"
	}
	if totals {
		return "largest"
	}
	return "busiest"
}

// order is how rows are sorted and filtered.
type order struct {
	key     sortKey
	reverse bool // against the key's natural direction
	totals  bool // sortBusiest means the largest total
	filter  string
}

// numbers is what every row has: its rates and totals.
type numbers struct {
	rateIn, rateOut   float64
	totalIn, totalOut uint64
}

func (n numbers) rate() float64 { return n.rateIn + n.rateOut }
func (n numbers) total() uint64 { return n.totalIn + n.totalOut }

// compare orders x before y when it comes first under k (in its natural
// direction); 0 when k does not tell them apart.
func (k sortKey) compare(x, y numbers, totals bool) int {
	switch k {
	case sortRateIn:
		return cmp.Compare(y.rateIn, x.rateIn)
	case sortRateOut:
		return cmp.Compare(y.rateOut, x.rateOut)
	case sortTotalIn:
		return cmp.Compare(y.totalIn, x.totalIn)
	case sortTotalOut:
		return cmp.Compare(y.totalOut, x.totalOut)
	case sortBusiest:
		if totals {
			return cmp.Or(cmp.Compare(y.total(), x.total()), cmp.Compare(y.rate(), x.rate()))
		}
		return cmp.Or(cmp.Compare(y.rate(), x.rate()), cmp.Compare(y.total(), x.total()))
	}
	return 0
}

func appNumbers(a *model.AppUsage) numbers {
	return numbers{a.RateIn, a.RateOut, a.BytesIn, a.BytesOut}
}

func procNumbers(p *model.ProcessUsage) numbers {
	return numbers{p.RateIn, p.RateOut, p.BytesIn, p.BytesOut}
}

// matches reports whether a filter (lower case) matches any of fields,
// ignoring case; the empty filter matches everything.
func matches(filter string, fields ...string) bool {
	if filter == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(safename.Clean(f)), filter) {
			return true
		}
	}
	return false
}

// appRows returns the apps of s to list under o: filtered by name, sorted,
// with model.OtherApp last whatever it is sorted by (as the agent lists
// it: it is not one app). Each points into s.Apps.
func appRows(s *model.Snapshot, o order) []*model.AppUsage {
	if s == nil {
		return nil
	}
	f := strings.ToLower(o.filter)
	rows := make([]*model.AppUsage, 0, len(s.Apps))
	for i := range s.Apps {
		a := &s.Apps[i]
		name := a.App
		if name == model.OtherApp {
			name = model.OtherLabel(a.Folded)
		}
		if matches(f, name) {
			rows = append(rows, a)
		}
	}
	slices.SortStableFunc(rows, func(x, y *model.AppUsage) int {
		if xo, yo := x.App == model.OtherApp, y.App == model.OtherApp; xo != yo {
			if xo {
				return 1
			}
			return -1
		}
		var c int
		switch o.key {
		case sortCount:
			c = cmp.Compare(y.Processes, x.Processes)
		case sortName:
			c = cmp.Compare(x.App, y.App)
		default:
			c = o.key.compare(appNumbers(x), appNumbers(y), o.totals)
		}
		if o.reverse {
			c = -c
		}
		return cmp.Or(c, sortBusiest.compare(appNumbers(x), appNumbers(y), o.totals), cmp.Compare(x.App, y.App))
	})
	return rows
}

// procRows returns the processes to list under o: filtered by PID, name,
// command line, user or where they run, and sorted.
func procRows(ps []model.ProcessUsage, o order) []*model.ProcessUsage {
	f := strings.ToLower(o.filter)
	rows := make([]*model.ProcessUsage, 0, len(ps))
	for i := range ps {
		p := &ps[i]
		if matches(f, strconv.Itoa(p.PID), p.Name, p.Cmdline, userLabel(p.User), p.Unit, p.Container, p.NetNS) {
			rows = append(rows, p)
		}
	}
	slices.SortStableFunc(rows, func(x, y *model.ProcessUsage) int {
		var c int
		switch o.key {
		case sortCount:
			c = cmp.Compare(x.PID, y.PID)
		case sortName:
			c = cmp.Compare(x.Cmdline, y.Cmdline)
		default:
			c = o.key.compare(procNumbers(x), procNumbers(y), o.totals)
		}
		if o.reverse {
			c = -c
		}
		return cmp.Or(c, sortBusiest.compare(procNumbers(x), procNumbers(y), o.totals), cmp.Compare(x.PID, y.PID))
	})
	return rows
}
