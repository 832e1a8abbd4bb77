package aggregator

import (
	"cmp"
	"slices"

	"github.com/bwmon/bwmon/model"
)

// DefaultForwardedPairs is how many pairs of hosts the forwarded section
// lists one by one when Config.ForwardedPairs is unset.
const DefaultForwardedPairs = 1024

// ForwardedAll is the Inside and Remote of a folded pair of hosts in the
// forwarded section (see forwarded.row).
const ForwardedAll = "*"

// forwarded keeps the cumulative bytes of the forwarded section by pair of
// hosts. A NAT gateway talks to an unbounded number of remote hosts, so the
// rows are bounded: at most bound exact pairs; past that, a new pair's
// bytes go to the row (inside, "*") of its inside host, of which there are
// at most bound too; past that, to ("*", "*"). Bytes are folded, never
// dropped, so the section totals stay exact. Rows are never removed: they
// are cumulative totals since Snapshot.Since.
type forwarded struct {
	bound           int
	rows            map[fwdKey]*fwdRow
	exact, folded   int       // rows of each kind
	tick            []*fwdRow // rows with bytes in the current tick
	tickIn, tickOut uint64    // the section's bytes in the current tick
}

type fwdKey struct{ inside, remote string }

type fwdRow struct {
	key             fwdKey
	in, out         uint64 // cumulative
	tickIn, tickOut uint64
}

func newForwarded(bound int) *forwarded {
	f := &forwarded{rows: make(map[fwdKey]*fwdRow)}
	f.setBound(bound)
	return f
}

// setBound changes the bound; rows already kept stay.
func (f *forwarded) setBound(bound int) {
	if bound <= 0 {
		bound = DefaultForwardedPairs
	}
	f.bound = bound
}

// add counts the bytes of one tick of the pair p.
func (f *forwarded) add(p model.HostPair, in, out uint64) {
	r := f.row(p.Inside.String(), p.Remote.String())
	if r.tickIn == 0 && r.tickOut == 0 {
		f.tick = append(f.tick, r)
	}
	r.in += in
	r.out += out
	r.tickIn += in
	r.tickOut += out
	f.tickIn += in
	f.tickOut += out
}

// row returns the row the bytes of (inside, remote) go to, making it when
// the bound allows, else folding as the type's comment says.
func (f *forwarded) row(inside, remote string) *fwdRow {
	k := fwdKey{inside, remote}
	if r := f.rows[k]; r != nil {
		return r
	}
	if inside != ForwardedAll && remote != ForwardedAll && f.exact < f.bound {
		f.exact++
		return f.make(k)
	}
	if inside != ForwardedAll {
		k = fwdKey{inside, ForwardedAll}
		if r := f.rows[k]; r != nil {
			return r
		}
		if f.folded < f.bound {
			f.folded++
			return f.make(k)
		}
	}
	k = fwdKey{ForwardedAll, ForwardedAll}
	if r := f.rows[k]; r != nil {
		return r
	}
	return f.make(k)
}

func (f *forwarded) make(k fwdKey) *fwdRow {
	r := &fwdRow{key: k}
	f.rows[k] = r
	return r
}

// snapshot closes the tick: the section with rates over dt seconds, pairs
// busiest first.
func (f *forwarded) snapshot(dt float64) model.Forwarded {
	s := model.Forwarded{
		RateIn:  float64(f.tickIn) / dt,
		RateOut: float64(f.tickOut) / dt,
		Hosts:   make([]model.ForwardedHosts, 0, len(f.rows)),
	}
	for _, r := range f.rows {
		s.BytesIn += r.in
		s.BytesOut += r.out
		s.Hosts = append(s.Hosts, model.ForwardedHosts{
			Inside: r.key.inside, Remote: r.key.remote,
			BytesIn: r.in, BytesOut: r.out,
			RateIn: float64(r.tickIn) / dt, RateOut: float64(r.tickOut) / dt,
		})
	}
	for _, r := range f.tick {
		r.tickIn, r.tickOut = 0, 0
	}
	f.tick = f.tick[:0]
	f.tickIn, f.tickOut = 0, 0
	slices.SortFunc(s.Hosts, func(x, y model.ForwardedHosts) int {
		return cmp.Or(
			cmp.Compare(y.RateIn+y.RateOut, x.RateIn+x.RateOut),
			cmp.Compare(y.BytesIn+y.BytesOut, x.BytesIn+x.BytesOut),
			cmp.Compare(x.Inside, y.Inside),
			cmp.Compare(x.Remote, y.Remote))
	})
	return s
}

// restore replaces the rows with hosts, busiest first so that the bound
// keeps the busiest pairs exact; pairs past it are folded as new ones are.
func (f *forwarded) restore(hosts []model.ForwardedHosts) {
	clear(f.rows)
	f.exact, f.folded = 0, 0
	f.tick = f.tick[:0]
	f.tickIn, f.tickOut = 0, 0
	hosts = slices.Clone(hosts)
	slices.SortFunc(hosts, func(x, y model.ForwardedHosts) int {
		return cmp.Or(
			cmp.Compare(y.BytesIn+y.BytesOut, x.BytesIn+x.BytesOut),
			cmp.Compare(x.Inside, y.Inside),
			cmp.Compare(x.Remote, y.Remote))
	})
	for _, h := range hosts {
		if h.Inside == "" || h.Remote == "" {
			continue
		}
		r := f.row(h.Inside, h.Remote)
		r.in += h.BytesIn
		r.out += h.BytesOut
	}
}
