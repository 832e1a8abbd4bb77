package httpapi

import (
	"net/http"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// The interface graph's history: the rates of the interfaces coverage
// counts (at most MaxLinkSeries of them, the largest by volume), of their
// sum and of what bwmon accounted for of it, in a History of their own,
// fed from each tick.
const (
	// MaxLinkSeries bounds the interfaces whose history is kept.
	MaxLinkSeries = 16
	// The names of the two sums in that History, apart from any
	// interface's: a clean name holds no NUL.
	linkTotal     = "\x00total"
	linkAccounted = "\x00accounted"
)

// linkKey is an interface's name in the History: its namespace's label
// and its name, which are clean and hold no NUL.
func linkKey(netns, name string) string {
	if netns == "" {
		return name
	}
	return netns + "\x00" + name
}

// linkRates are a tick's series for the interface graph; none when the
// agent reads no interface.
func linkRates(s *model.Snapshot) []Rates {
	if len(s.Interfaces) == 0 || s.IntervalS <= 0 {
		return nil
	}
	c := s.Coverage.CoverageSpan
	rs := []Rates{
		{linkTotal, float64(c.InterfaceBytesIn) / s.IntervalS, float64(c.InterfaceBytesOut) / s.IntervalS},
		{linkAccounted, float64(c.AccountedBytesIn) / s.IntervalS, float64(c.AccountedBytesOut) / s.IntervalS},
	}
	for _, l := range s.Interfaces {
		if l.Role == model.RoleCounted && l.Name != model.OtherApp {
			rs = append(rs, Rates{linkKey(l.NetNS, l.Name), l.RateIn, l.RateOut})
		}
	}
	return rs
}

// linkHistory is one interface's points in the reply.
type linkHistory struct {
	Name   string  `json:"name"`
	NetNS  string  `json:"netns,omitempty"`
	Points []Point `json:"points"`
}

// interfacesReply is the body of GET /api/v1/interfaces.
type interfacesReply struct {
	SinceS      float64 `json:"since_s"`
	ResolutionS float64 `json:"resolution_s"`
	// Total is the IP-layer rate of the interfaces coverage counts,
	// Accounted the rate of what bwmon accounted for of it.
	Total     []Point `json:"total"`
	Accounted []Point `json:"accounted"`
	// Interfaces are the counted interfaces whose history is kept.
	Interfaces []linkHistory `json:"interfaces"`
}

// serveInterfaces answers GET /api/v1/interfaces?since=15m: the history of
// the interface graph.
func (s *Server) serveInterfaces(w http.ResponseWriter, r *http.Request) {
	since, err := ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	names := []string{linkTotal, linkAccounted}
	for _, n := range s.links.Names() {
		if n != linkTotal && n != linkAccounted {
			names = append(names, n)
		}
	}
	hs, _, res := s.links.QueryMany(names, since)
	rep := interfacesReply{SinceS: since.Seconds(), ResolutionS: res.Seconds(), Total: []Point{}, Accounted: []Point{}, Interfaces: []linkHistory{}}
	for _, h := range hs {
		switch h.App {
		case linkTotal:
			rep.Total = h.Points
		case linkAccounted:
			rep.Accounted = h.Points
		default:
			l := linkHistory{Name: h.App, Points: h.Points}
			if ns, name, ok := strings.Cut(h.App, "\x00"); ok {
				l.NetNS, l.Name = ns, name
			}
			rep.Interfaces = append(rep.Interfaces, l)
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
