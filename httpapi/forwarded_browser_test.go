package httpapi

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bwmon/bwmon/model"
)

// TestBrowserForwarded: the page shows the Forwarded table only once the
// agent reports forwarded hosts, with their addresses, rates and totals,
// and shows each app's containers and network namespaces under its name.
// A server in the test process feeds it; no root needed.
func TestBrowserForwarded(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{})
	var withFwd atomic.Bool
	tick := func(now time.Time) *model.Snapshot {
		sn := snap(now, map[string][2]float64{"nginx": {2048, 100}, "curl": {10, 10}})
		for i := range sn.Apps {
			sn.Apps[i].Containers, sn.Apps[i].NetNS = []model.Container{}, []string{}
			if sn.Apps[i].App == "nginx" {
				sn.Apps[i].Containers = []model.Container{{Runtime: "docker", ID: "d548c5b83fa61d8e3bd86ad42a7ffea9", Name: "web"}}
				sn.Apps[i].NetNS = []string{"blue", "net:[4026532481]"}
			}
		}
		sn.Forwarded = model.Forwarded{Hosts: []model.ForwardedHosts{}}
		if withFwd.Load() {
			sn.Forwarded = model.Forwarded{BytesIn: 3 << 20, BytesOut: 1<<20 + 512, RateIn: 4096, RateOut: 1024, Hosts: []model.ForwardedHosts{
				{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 3 << 20, BytesOut: 1 << 20, RateIn: 4096, RateOut: 1024},
				{Inside: "fd00::2", Remote: "*", BytesIn: 0, BytesOut: 512},
			}}
		}
		return sn
	}
	feed(t, s, tick)

	b := newBrowser(t, chrome)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(ts.URL), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	b.waitJS(10*time.Second, "nginx in the table", `[...document.querySelectorAll('#rows tr')].some(r => r.dataset.app === 'nginx')`)
	var where string
	b.eval(`document.querySelector('#rows tr[data-app="nginx"] .where').textContent`, &where)
	if want := "docker web · netns blue · netns net:[4026532481]"; where != want {
		t.Errorf("nginx runs in %q, want %q", where, want)
	}
	var curlWhere bool
	b.eval(`(e => !!e && e.getClientRects().length > 0)(document.querySelector('#rows tr[data-app="curl"] .where'))`, &curlWhere)
	if curlWhere {
		t.Error("curl, on the host, has a where line")
	}
	var hidden bool
	b.eval(`document.getElementById('forwarded-card').hidden && getComputedStyle(document.getElementById('forwarded-card')).display === 'none'`, &hidden)
	if !hidden {
		t.Fatal("the Forwarded table shows while nothing is forwarded")
	}

	withFwd.Store(true)
	b.waitJS(10*time.Second, "the Forwarded table", `!document.getElementById('forwarded-card').hidden`)
	var rows []struct {
		Inside, Remote, RateIn, RateOut, BytesIn, BytesOut string
	}
	rowsJS := `[...document.querySelectorAll('#forwarded-rows tr')].map(r => ({
		inside: r.querySelector('.inside').textContent, remote: r.querySelector('.remote').textContent,
		rateIn: r.querySelector('.rate-in').textContent, rateOut: r.querySelector('.rate-out').textContent,
		bytesIn: r.querySelector('.bytes-in').textContent, bytesOut: r.querySelector('.bytes-out').textContent}))`
	b.eval(rowsJS, &rows)
	want := []struct{ Inside, Remote, RateIn, RateOut, BytesIn, BytesOut string }{
		{"10.0.0.2", "192.0.2.7", "4.00 KiB/s", "1.00 KiB/s", "3.00 MiB", "1.00 MiB"},
		{"fd00::2", "* (others, folded)", "0 B/s", "0 B/s", "0 B", "512 B"},
	}
	if len(rows) != len(want) {
		t.Fatalf("forwarded rows %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
	var visible bool
	b.eval(`document.getElementById('forwarded').getBoundingClientRect().height > 0`, &visible)
	if !visible {
		t.Error("the Forwarded table takes no room on the page")
	}

	// bits/s apply to it too.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#unit-bits"))); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "bits/s in the Forwarded table",
		`document.querySelector('#forwarded-rows .rate-in').textContent === '32.8 kbit/s'`)
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged errors: %s", strings.Join(p, "\n"))
	}
	shot(t, b.ctx, "forwarded.png")
}
