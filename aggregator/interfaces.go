package aggregator

import (
	"cmp"
	"slices"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// interfaces keeps the network interfaces the link monitors read: each
// one's totals since it was first read, and the tick's sums for
// coverage. One tick's reads go in with add, then lines closes the tick.
type interfaces struct {
	m map[ifKey]*ifState

	// The tick's: the namespaces read (a second monitor of one namespace
	// adds its accounted bytes, not the interfaces again), and the sums
	// coverage compares.
	read                      map[uint64]bool
	ifaceIn, ifaceOut         uint64
	accountedIn, accountedOut uint64
}

type ifKey struct {
	netns uint64
	index int32
}

type ifState struct {
	name, netns, kind string // clean
	role              model.InterfaceRole
	estimated         bool
	total, tick       ifBytes
	since, seen       time.Time
}

// ifBytes are an interface's figures: IP layer, link layer, packets.
type ifBytes struct {
	ipIn, ipOut, linkIn, linkOut, pktIn, pktOut uint64
}

func (b *ifBytes) add(t *model.InterfaceTick) {
	b.ipIn += t.IPIn
	b.ipOut += t.IPOut
	b.linkIn += t.LinkIn
	b.linkOut += t.LinkOut
	b.pktIn += t.PacketsIn
	b.pktOut += t.PacketsOut
}

func newInterfaces() *interfaces {
	return &interfaces{m: map[ifKey]*ifState{}, read: map[uint64]bool{}}
}

// add takes one monitor's read of its namespace at now.
func (s *interfaces) add(lt *model.LinkTick, now time.Time) {
	s.accountedIn += lt.AccountedIn
	s.accountedOut += lt.AccountedOut
	if s.read[lt.NetNSID] {
		return
	}
	s.read[lt.NetNSID] = true
	for i := range lt.Interfaces {
		it := &lt.Interfaces[i]
		k := ifKey{lt.NetNSID, it.Index}
		st := s.m[k]
		if st == nil {
			st = &ifState{since: now}
			s.m[k] = st
		}
		if st.name == "" || it.Name != "" {
			st.name = cleanName(it.Name)
		}
		st.netns, st.kind, st.role, st.estimated = safename.Clean(lt.NetNS), safename.Clean(it.Kind), it.Role, it.IPEstimated
		st.tick.add(it)
		st.total.add(it)
		st.seen = now
		if it.Role == model.RoleCounted {
			s.ifaceIn += it.IPIn
			s.ifaceOut += it.IPOut
		}
	}
}

// cleanName is an interface's name as every output shows it: clean, and
// never the name of the folded line.
func cleanName(n string) string {
	if n = safename.Clean(n); n == model.OtherApp {
		return OtherLookalike
	}
	return n
}

// sums returns the tick's coverage sums: the counted interfaces' IP bytes
// and the accounted bytes, in and out.
func (s *interfaces) sums() bucketSums {
	return bucketSums{s.ifaceIn, s.ifaceOut, s.accountedIn, s.accountedOut}
}

// lines closes the tick: the interfaces' lines with rates over dt
// seconds, the counted ones first, then by total; at most
// model.MaxInterfaces, the rest folded into one line. An interface gone
// from a namespace read this tick is forgotten, as is one whose namespace
// nobody has read for retention (its monitor stopped).
func (s *interfaces) lines(now time.Time, dt float64, retention time.Duration) []model.Interface {
	order := make([]*ifState, 0, len(s.m))
	for k, st := range s.m {
		if !st.seen.Equal(now) && (s.read[k.netns] || now.Sub(st.seen) > retention) {
			delete(s.m, k)
			continue
		}
		order = append(order, st)
	}
	slices.SortFunc(order, func(x, y *ifState) int {
		return cmp.Or(
			cmp.Compare(roleRank(x.role), roleRank(y.role)),
			cmp.Compare(y.total.ipIn+y.total.ipOut, x.total.ipIn+x.total.ipOut),
			cmp.Compare(x.netns, y.netns),
			cmp.Compare(x.name, y.name))
	})
	out := make([]model.Interface, 0, min(len(order), model.MaxInterfaces+1))
	var other *model.Interface
	for i, st := range order {
		if i < model.MaxInterfaces {
			out = append(out, st.line(dt))
			continue
		}
		if other == nil {
			out = append(out, model.Interface{Name: model.OtherApp, Since: st.since})
			other = &out[len(out)-1]
		}
		l := st.line(dt)
		other.BytesIn, other.BytesOut = other.BytesIn+l.BytesIn, other.BytesOut+l.BytesOut
		other.RateIn, other.RateOut = other.RateIn+l.RateIn, other.RateOut+l.RateOut
		other.LinkBytesIn, other.LinkBytesOut = other.LinkBytesIn+l.LinkBytesIn, other.LinkBytesOut+l.LinkBytesOut
		other.LinkRateIn, other.LinkRateOut = other.LinkRateIn+l.LinkRateIn, other.LinkRateOut+l.LinkRateOut
		other.PacketsIn, other.PacketsOut = other.PacketsIn+l.PacketsIn, other.PacketsOut+l.PacketsOut
		other.IPEstimated = other.IPEstimated || l.IPEstimated
		if st.since.Before(other.Since) {
			other.Since = st.since
		}
		other.Folded++
	}
	for _, st := range s.m {
		st.tick = ifBytes{}
	}
	clear(s.read)
	s.ifaceIn, s.ifaceOut, s.accountedIn, s.accountedOut = 0, 0, 0, 0
	return out
}

func (st *ifState) line(dt float64) model.Interface {
	return model.Interface{
		Name: st.name, NetNS: st.netns, Kind: st.kind, Role: st.role,
		BytesIn: st.total.ipIn, BytesOut: st.total.ipOut,
		RateIn: float64(st.tick.ipIn) / dt, RateOut: float64(st.tick.ipOut) / dt,
		LinkBytesIn: st.total.linkIn, LinkBytesOut: st.total.linkOut,
		LinkRateIn: float64(st.tick.linkIn) / dt, LinkRateOut: float64(st.tick.linkOut) / dt,
		PacketsIn: st.total.pktIn, PacketsOut: st.total.pktOut,
		IPEstimated: st.estimated, Since: st.since,
	}
}

// roleRank orders the lines: the interfaces coverage counts first, then
// the loopback, then ports and stacked links.
func roleRank(r model.InterfaceRole) int {
	switch r {
	case model.RoleCounted:
		return 0
	case model.RoleLoopback:
		return 1
	}
	return 2
}
