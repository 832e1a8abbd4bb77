package state

import (
	"cmp"
	"slices"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// The forwarded section in the store: each pair of hosts the aggregator
// lists (bounded there: see aggregator.DefaultForwardedPairs) under
// "forwarded/INSIDE/REMOTE" (addresses hold no "/"; "*" for folded rows),
// and the section's totals under "forwarded". A store written before these
// keys existed has none and reads as an empty section; a bwmon of that time
// skips them.
const (
	fwdPrefix   = "forwarded/"
	fwdTotalKey = "forwarded"
)

// ForwardedBytes is a period's forwarded bytes: traffic the host routed
// between other hosts, seen from the inside hosts (in is what they
// received). It is not part of the period's apps nor of its BytesIn and
// BytesOut.
type ForwardedBytes struct {
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Hosts is sorted by bytes in plus out, largest first; Remote (or
	// both) is "*" for pairs the agent folded together past its bound.
	Hosts []ForwardedHostBytes `json:"hosts"`
	// Folded is how many pairs a usage period folded into its last row,
	// ("*", "*"), to list at most as many pairs as apps.
	Folded int `json:"folded,omitempty"`
}

// fold keeps the n largest pairs of f and adds the rest to one last row
// ("*", "*"); n = 0 keeps all.
func (f *ForwardedBytes) fold(n int) {
	if n <= 0 || len(f.Hosts) <= n {
		return
	}
	rest := ForwardedHostBytes{Inside: "*", Remote: "*"}
	for _, h := range f.Hosts[n:] {
		rest.BytesIn = satAdd(rest.BytesIn, h.BytesIn)
		rest.BytesOut = satAdd(rest.BytesOut, h.BytesOut)
	}
	f.Folded = len(f.Hosts) - n
	f.Hosts = append(f.Hosts[:n:n], rest)
}

// ForwardedHostBytes is one pair of hosts' bytes in a period.
type ForwardedHostBytes struct {
	Inside   string `json:"inside"`
	Remote   string `json:"remote"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// recordForwarded books the forwarded section of a Snapshot as record
// does the apps.
func (s *Store) recordForwarded(date string, f model.Forwarded) {
	for _, h := range f.Hosts {
		s.record(date, fwdKey(h.Inside, h.Remote), h.BytesIn, h.BytesOut)
	}
	if f.BytesIn+f.BytesOut > 0 || len(f.Hosts) > 0 {
		s.record(date, fwdTotalKey, f.BytesIn, f.BytesOut)
	}
}

// forwarded reads the forwarded section out of c.
func (c counts) forwarded() ForwardedBytes {
	f := ForwardedBytes{Hosts: []ForwardedHostBytes{}}
	var sum model.Totals
	total, haveTotal := c[fwdTotalKey]
	for k, t := range c {
		rest, ok := strings.CutPrefix(k, fwdPrefix)
		if !ok {
			continue
		}
		inside, remote, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		f.Hosts = append(f.Hosts, ForwardedHostBytes{Inside: inside, Remote: remote, BytesIn: t.In, BytesOut: t.Out})
		sum = plus(sum, t)
	}
	slices.SortFunc(f.Hosts, func(x, y ForwardedHostBytes) int {
		return cmp.Or(
			cmp.Compare(satAdd(y.BytesIn, y.BytesOut), satAdd(x.BytesIn, x.BytesOut)),
			cmp.Compare(x.Inside, y.Inside),
			cmp.Compare(x.Remote, y.Remote))
	})
	f.BytesIn, f.BytesOut = sum.In, sum.Out
	if haveTotal {
		f.BytesIn, f.BytesOut = total.In, total.Out
	}
	return f
}

// Forwarded returns the forwarded pairs of hosts as of the last Consume (at
// Open: as stored), in the form aggregator.RestoreForwarded takes.
func (s *Store) Forwarded() []model.ForwardedHosts {
	s.mu.Lock()
	f := s.last.forwarded()
	s.mu.Unlock()
	out := make([]model.ForwardedHosts, 0, len(f.Hosts))
	for _, h := range f.Hosts {
		out = append(out, model.ForwardedHosts{Inside: h.Inside, Remote: h.Remote, BytesIn: h.BytesIn, BytesOut: h.BytesOut})
	}
	return out
}
