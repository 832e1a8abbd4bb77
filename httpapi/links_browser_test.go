package httpapi

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// linkPageTick makes ticks with the apps of pageTick and interfaces: eth0
// (counted) moving 1 MiB/s in and 256 KiB/s out, with a second counted
// interface when two is set, a bridge port with a name written to break
// HTML, and the loopback; bwmon explained 99.3% in and 66.9% out of it over
// 15 minutes.
func linkPageTick(two *atomic.Bool) func(now time.Time) *model.Snapshot {
	apps := pageTick([]pageApp{{name: "nginx", in: 4096, out: 1024, step: 10, procs: 2}})
	return func(now time.Time) *model.Snapshot {
		s := apps(now)
		since := t0.Add(-time.Hour)
		s.Interfaces = []model.Interface{
			{Name: "eth0", Kind: "device", Role: model.RoleCounted, RateIn: 1 << 20, RateOut: 256 << 10, BytesIn: 5 << 30, BytesOut: 1 << 30,
				LinkBytesIn: 5<<30 + 1<<20, LinkBytesOut: 1<<30 + 1<<19, PacketsIn: 4e6, PacketsOut: 1e6, Since: since},
		}
		if two.Load() {
			s.Interfaces = append(s.Interfaces, model.Interface{Name: "wg0", NetNS: "vpn", Kind: "wireguard", Role: model.RoleCounted,
				RateIn: 64 << 10, RateOut: 64 << 10, BytesIn: 1 << 20, BytesOut: 1 << 20, IPEstimated: true, Since: since})
		}
		s.Interfaces = append(s.Interfaces,
			model.Interface{Name: `<img src=x onerror="document.title='pwned'">`, Kind: "veth", Role: model.RolePort, RateIn: 1000, Since: since},
			model.Interface{Name: "lo", Kind: "loopback", Role: model.RoleLoopback, RateIn: 9 << 20, RateOut: 9 << 20, Since: since})
		var in, out float64
		for _, l := range s.Interfaces {
			if l.Role == model.RoleCounted {
				in, out = in+l.RateIn, out+l.RateOut
			}
		}
		span := func(i, o float64) model.CoverageSpan {
			return model.CoverageSpan{In: &i, Out: &o, InterfaceBytesIn: uint64(in), InterfaceBytesOut: uint64(out),
				AccountedBytesIn: uint64(in * i), AccountedBytesOut: uint64(out * o), SpanS: 1}
		}
		s.Coverage = model.Coverage{CoverageSpan: span(0.993, 0.669), Last15m: span(0.993, 0.669), Last24h: span(0.998, 0.95), Total: span(0.998, 0.95)}
		return s
	}
}

// TestBrowserInterfaces: the page draws the interface graph above the
// apps' graph, the counted interfaces' sum and what bwmon explained of it,
// from the start the agent kept (one GET /api/v1/interfaces) and then
// live; it says coverage beside it, marked where low; the table lists
// every interface with its role, names as text; a second counted
// interface gets a line of its own; the 24-hour range asks for minute
// points. A server in the test process feeds it; no root needed.
func TestBrowserInterfaces(t *testing.T) {
	chrome := chromium(t)
	s, ts, log := newLoggedServer(t, Options{})
	var two atomic.Bool
	tick := linkPageTick(&two)
	for i := range 20 { // what the page missed
		s.Consume(tick(t0.Add(time.Duration(i) * time.Second)))
	}
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "the interface card", `!document.getElementById('links-card').hidden`)
	b.waitJS(10*time.Second, "the interface graph from the history", `bwmon.linkPoints() >= 20`)
	if n, _ := log.count("/api/v1/interfaces"); n != 1 {
		t.Errorf("%d requests to /api/v1/interfaces, want 1 at start", n)
	}
	var above bool
	b.eval(`document.getElementById('links-card').getBoundingClientRect().bottom <= document.getElementById('graph-card').getBoundingClientRect().top`, &above)
	if !above {
		t.Error("the interface graph is not above the apps' graph")
	}
	var series []string
	b.eval(`bwmon.linkSeries()`, &series)
	if strings.Join(series, "|") != "All counted interfaces|Explained by bwmon" {
		t.Errorf("series %q, want the sum and what bwmon explained (one counted interface: no line of its own)", series)
	}
	var cov struct {
		Main, More string
		Low        bool
	}
	b.eval(`({main: document.getElementById('coverage-main').textContent, more: document.getElementById('coverage-more').textContent,
		low: document.getElementById('coverage').classList.contains('low')})`, &cov)
	if cov.Main != "in 99.3% · out 66.9%" || !cov.Low || cov.More != "last tick 99.3% · 66.9%, 24 hours 99.8% · 95.0%" {
		t.Errorf("coverage %+v; want in 99.3%% · out 66.9%%, marked low, the tick and 24 hours beside", cov)
	}
	var rows []string
	b.eval(`[...document.querySelectorAll('#interfaces-rows tr')].map(r => r.querySelector('.name').textContent + ' | ' +
		r.querySelector('.where').textContent + ' | ' + r.children[1].textContent)`, &rows)
	want := []string{"eth0 | device | 1.00 MiB/s", `<img src=x onerror="document.title='pwned'"> | veth · bridge or bond port, not counted | 1000 B/s`,
		"lo | loopback · loopback, not counted | 9.00 MiB/s"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("interface rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	feed(t, s, func(now time.Time) *model.Snapshot { return tick(now.Add(20 * time.Second)) })
	b.waitJS(10*time.Second, "live points", `bwmon.linkPoints() >= 23`)
	two.Store(true)
	b.waitJS(10*time.Second, "a line for each counted interface",
		`bwmon.linkSeries().join('|') === 'All counted interfaces|Explained by bwmon|eth0|wg0 (netns vpn)'`)
	b.waitJS(5*time.Second, "wg0 in the table, its IP figure an estimate",
		`[...document.querySelectorAll('#interfaces-rows .where')].some(e => e.textContent === 'wireguard · netns vpn · IP bytes estimated')`)
	shot(t, b.ctx, "interfaces.png")

	b.click("the 24-hour range", `document.getElementById('range-24h')`)
	b.waitJS(10*time.Second, "the interfaces' day", `document.getElementById('links-title').textContent === 'Interfaces, last 24 hours'`)
	eventually(t, 5*time.Second, "a request for the day", func() bool {
		_, q := log.count("/api/v1/interfaces")
		return q.Get("since") == "24h"
	})
	b.waitJS(10*time.Second, "the day's minute points drawn", `bwmon.linkPoints() >= 2`)
	var title string
	b.eval(`document.title`, &title)
	if title != "bwmon" {
		t.Errorf("the page's title is %q: an interface name ran as HTML", title)
	}
	b.viewport(360, 800)
	var overflow bool
	b.eval(`document.documentElement.scrollWidth > window.innerWidth || document.getElementById('links-card').scrollWidth > document.getElementById('links-card').clientWidth`, &overflow)
	if overflow {
		t.Error("at 360 px the interface card is wider than the screen")
	}
	shot(t, b.ctx, "interfaces-360.png")
	b.noProblems()
}
