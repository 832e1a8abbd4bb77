package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// linkSnap is a tick whose counted interfaces are named by names, each
// moving in and out bytes a second, and of which bwmon accounted for
// share.
func linkSnap(at time.Time, names []string, in, out, share float64) *model.Snapshot {
	s := &model.Snapshot{Time: at, IntervalS: 1}
	var sumIn, sumOut float64
	for _, n := range names {
		s.Interfaces = append(s.Interfaces, model.Interface{Name: n, NetNS: "blue", Kind: "veth", Role: model.RoleCounted, RateIn: in, RateOut: out})
		sumIn, sumOut = sumIn+in, sumOut+out
	}
	s.Interfaces = append(s.Interfaces, model.Interface{Name: "lo", Kind: "loopback", Role: model.RoleLoopback, RateIn: 1e9, RateOut: 1e9})
	s.Coverage.CoverageSpan = model.CoverageSpan{InterfaceBytesIn: uint64(sumIn), InterfaceBytesOut: uint64(sumOut),
		AccountedBytesIn: uint64(sumIn * share), AccountedBytesOut: uint64(sumOut * share), SpanS: 1}
	return s
}

// TestInterfacesHistory: GET /api/v1/interfaces gives the graph's history:
// the sum of the counted interfaces, what bwmon accounted for of it, and
// each counted interface (never the loopback), at most MaxLinkSeries of
// them, the busiest; since is checked as for the apps' history.
func TestInterfacesHistory(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	var names []string
	for i := range MaxLinkSeries + 10 {
		names = append(names, fmt.Sprintf("veth%02d\x1b", i))
	}
	for i := range 5 {
		sn := linkSnap(t0.Add(time.Duration(i+1)*time.Second), names, 1000, 100, 0.5)
		sn.Interfaces[3].RateIn = 1e6 // the busiest
		s.Consume(sn)
	}
	resp, body := get(t, ts.URL+"/api/v1/interfaces?since=15m")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var rep interfacesReply
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Total) != 5 || len(rep.Accounted) != 5 || rep.ResolutionS != 1 {
		t.Fatalf("%d total points, %d accounted, resolution %v; want 5, 5, 1: %s", len(rep.Total), len(rep.Accounted), rep.ResolutionS, body)
	}
	if p := rep.Total[4]; p.In != 1000*float64(len(names)) || rep.Accounted[4].In != p.In/2 {
		t.Errorf("last points: total %+v, accounted %+v; want %d in, half of it accounted", p, rep.Accounted[4], 1000*len(names))
	}
	if len(rep.Interfaces) != MaxLinkSeries {
		t.Errorf("%d interfaces, want the bound, %d", len(rep.Interfaces), MaxLinkSeries)
	}
	busiest := false
	for _, l := range rep.Interfaces {
		if l.Name == "lo" || l.NetNS != "blue" {
			t.Errorf("interface %q in %q: want only counted ones, with their namespace", l.Name, l.NetNS)
		}
		busiest = busiest || l.Name == names[3]
	}
	if !busiest {
		t.Errorf("the busiest interface %q has no history", names[3])
	}
	if resp, _ := get(t, ts.URL+"/api/v1/interfaces?since=2d"); resp.StatusCode != 400 {
		t.Errorf("since=2d: status %d, want 400", resp.StatusCode)
	}
}

// TestInterfacesHistoryEmpty: an agent that reads no interface (pipes
// alone) answers with empty lists, not null.
func TestInterfacesHistoryEmpty(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	s.Consume(manyApps(t0, 3, 5))
	s.Consume(manyApps(t0.Add(time.Second), 3, 5))
	_, body := get(t, ts.URL+"/api/v1/interfaces")
	if want := "{\"since_s\":900,\"resolution_s\":1,\"total\":[],\"accounted\":[],\"interfaces\":[]}\n"; string(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
}
