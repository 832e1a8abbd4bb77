package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// realisticSnap is a tick at the bound: model.DefaultLimitApps apps and
// the "(other)" row, each with a 16-character name, a few PIDs, one user,
// unit and cgroup, and 12-digit totals; every unattributed reason.
func realisticSnap(now time.Time) *model.Snapshot {
	s := &model.Snapshot{Time: now, Since: now.Add(-30 * 24 * time.Hour), IntervalS: 1.000213,
		Unattributed: model.Unattributed{BytesIn: 123456789012, BytesOut: 98765432109, RateIn: 12345.678, RateOut: 234.5,
			Reasons: map[model.Reason]model.UnattributedSum{}},
		Forwarded: model.Forwarded{Hosts: []model.ForwardedHosts{}}}
	for _, r := range []model.Reason{model.ReasonNoSocket, model.ReasonNoProcess, model.ReasonProcessGone, model.ReasonNotLocal,
		model.ReasonKernel, model.ReasonEventsLost, model.ReasonUnreadableNamespace} {
		s.Unattributed.Reasons[r] = model.UnattributedSum{BytesIn: 12345678901, BytesOut: 1234567890}
	}
	for i := range model.DefaultLimitApps + 1 {
		name := fmt.Sprintf("worker-%09d", i) // 16 characters
		if i == model.DefaultLimitApps {
			name = model.OtherApp
		}
		unit := fmt.Sprintf("%s.service", name)
		s.Apps = append(s.Apps, model.AppUsage{
			App: name, BytesIn: 123456789012 + uint64(i), BytesOut: 23456789012 + uint64(i),
			RateIn: 1234567.891 + float64(i), RateOut: 12345.678,
			PIDs: []int{1234567 + i, 2234567 + i, 3234567 + i}, Processes: 3,
			Users: []model.UserRef{{UID: 1000 + i, Name: "user" + fmt.Sprint(1000+i)}},
			Units: []string{unit}, Containers: []model.Container{}, Cgroups: []string{"/system.slice/" + unit}, NetNS: []string{},
			Classes: map[string]model.AppClass{ // the three built-in classes
				"local":    {BytesIn: 1234567 + uint64(i), BytesOut: 123456, RateIn: 12.5, RateOut: 1.25},
				"private":  {BytesIn: 23456789012, BytesOut: 3456789012, RateIn: 234567.891, RateOut: 2345.678},
				"internet": {BytesIn: 99998765433, BytesOut: 19998765434, RateIn: 999987.5, RateOut: 9998.75},
			},
		})
	}
	for i, n := range []string{"eth0", "docker0", "lo"} {
		role := model.RoleCounted
		if n == "lo" {
			role = model.RoleLoopback
		}
		s.Interfaces = append(s.Interfaces, model.Interface{Name: n, Kind: "device", Role: role,
			BytesIn: 123456789012 + uint64(i), BytesOut: 23456789012, RateIn: 1234567.891, RateOut: 12345.678,
			LinkBytesIn: 124456789012, LinkBytesOut: 23556789012, LinkRateIn: 1244567.891, LinkRateOut: 12445.678,
			PacketsIn: 123456789, PacketsOut: 23456789, Since: now.Add(-time.Hour)})
	}
	span := model.CoverageSpan{In: model.Ratio(99, 100), Out: model.Ratio(999, 1000), InterfaceBytesIn: 123456789012, InterfaceBytesOut: 23456789012,
		AccountedBytesIn: 122456789012, AccountedBytesOut: 23356789012, SpanS: 900.5}
	s.Coverage = model.Coverage{CoverageSpan: span, Last15m: span, Last24h: span, Total: span}
	return s
}

// worstSnap is realisticSnap with everything at its bound: names of
// safename.MaxLen bytes of a character JSON escapes in six ("<"), and
// every list of model.MaxListed items.
func worstSnap(now time.Time) *model.Snapshot {
	s := realisticSnap(now)
	long := func(i int) string {
		p := fmt.Sprint(i)
		return p + strings.Repeat("<", safename.MaxLen-len(p))
	}
	for i := range s.Apps {
		a := &s.Apps[i]
		if a.App != model.OtherApp {
			a.App = long(i)
		}
		a.PIDs, a.Users, a.Units, a.Containers, a.Cgroups, a.NetNS = nil, nil, nil, nil, nil, nil
		for j := range model.MaxListed {
			a.PIDs = append(a.PIDs, 4194304-j)
			a.Users = append(a.Users, model.UserRef{UID: 4294967294 - j, Name: long(j)})
			a.Units = append(a.Units, long(j))
			a.Containers = append(a.Containers, model.Container{Runtime: "containerd", ID: strings.Repeat("f", 64),
				Name: long(j), PodUID: "9692aa0e-748e-11e8-8dfa-76d458035df6"})
			a.Cgroups = append(a.Cgroups, long(j))
			a.NetNS = append(a.NetNS, long(j))
		}
		a.Processes = 1 << 22
	}
	return s
}

// TestSnapshotSize: a tick at the bound of apps, as /api/v1/apps serves it
// and the WebSocket pushes it each second, encodes under 128 KiB.
func TestSnapshotSize(t *testing.T) {
	const limit = 128 << 10
	s, ts := newTestServer(t, Options{})
	s.Consume(realisticSnap(t0))
	resp, body := get(t, ts.URL+"/api/v1/apps")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(body) > limit {
		t.Fatalf("a tick of %d apps is %d bytes, want at most %d", model.DefaultLimitApps+1, len(body), limit)
	}
	worst, err := json.Marshal(worstSnap(t0))
	if err != nil {
		t.Fatal(err)
	}
	// A gateway's forwarded section: aggregator.DefaultForwardedPairs
	// pairs of IPv6 hosts.
	var fwd model.Forwarded
	for i := range 1024 {
		fwd.Hosts = append(fwd.Hosts, model.ForwardedHosts{Inside: fmt.Sprintf("2001:db8:aaaa:bbbb:cccc:dddd:eeee:%04x", i),
			Remote: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", BytesIn: 123456789012, BytesOut: 123456789012, RateIn: 1234567.891, RateOut: 1234567.891})
	}
	forwarded, err := json.Marshal(fwd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a tick of %d apps: %d bytes (%.1f KiB); every name and list at its bound: %d bytes (%.1f MiB); 1,024 forwarded pairs: %d bytes (%.0f KiB)",
		model.DefaultLimitApps+1, len(body), float64(len(body))/1024, len(worst), float64(len(worst))/(1<<20), len(forwarded), float64(len(forwarded))/1024)
}
