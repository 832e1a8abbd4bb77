package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// TestBrowserBounds: the page names the "(other)" row by the apps folded
// into it, says under the table what the agent lists by name, shows
// hostile names as text, and draws "(other)" only once it has moved bytes.
// A server in the test process feeds it; no root needed.
func TestBrowserBounds(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{})
	const evil = `<img src=x onerror="document.title='owned'">`
	otherRate := 0.0
	tick := func(now time.Time) *model.Snapshot {
		// The aggregator hands the server clean names (safename.Clean).
		sn := snap(now, map[string][2]float64{"nginx": {2048, 100}, safename.Clean("x\xffy"): {10, 10}, safename.Clean("\u009b/\u202e"): {5, 5}, evil: {1, 1}})
		sn.Apps = append(sn.Apps, model.AppUsage{App: model.OtherApp, BytesIn: 1 << 40, RateIn: otherRate, Folded: 1412, Processes: 40})
		sn.Agent.Limits = model.Limits{Apps: 100, TopApps: 20, ActiveWindow: 15 * time.Minute}
		sn.Agent.FoldedApps = 1412
		return sn
	}
	for i := 0; i < 3; i++ {
		s.Consume(tick(t0.Add(time.Duration(i) * time.Second)))
	}

	b := newBrowser(t, chrome)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(ts.URL), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	b.waitJS(10*time.Second, "the table", `document.querySelectorAll('#rows tr').length === 5`)
	var texts []string
	b.eval(`[...document.querySelectorAll('#rows td.app')].map(td => td.firstChild.textContent || td.textContent)`, &texts)
	want := []string{"nginx", `x\xffy`, `\u009b/\u202e`, evil, "(other: 1412 apps)"}
	for _, w := range want {
		found := false
		for _, got := range texts {
			found = found || strings.HasPrefix(got, w)
		}
		if !found {
			t.Errorf("no row shows %q; rows %q", w, texts)
		}
	}
	var markup struct {
		Img   bool
		Title string
	}
	b.eval(`({img: !!document.querySelector('#rows img'), title: document.title})`, &markup)
	if markup.Img || markup.Title == "owned" {
		t.Fatalf("a name was read as markup: %+v", markup)
	}
	b.waitJS(10*time.Second, "the bounds line", `document.getElementById('bounds').textContent !== ''`)
	var bounds string
	b.eval(`document.getElementById('bounds').textContent`, &bounds)
	if want := "Listing at most 100 apps by name: those active in the last 15 min and the 20 largest; 1412 folded into (other)."; bounds != want {
		t.Errorf("bounds line %q, want %q", bounds, want)
	}
	var summary string
	b.eval(`document.getElementById('summary').textContent`, &summary)
	if summary != "4 apps, 4 active" {
		t.Errorf("summary %q, want the named apps only", summary)
	}

	// Idle, "(other)" has no history: no line of its own in either graph.
	graphLabels := `window.bwmon.state.charts.in ? window.bwmon.state.charts.in.series.map(s => s.label || '') : []`
	var labels []string
	b.waitJS(10*time.Second, "the live graph", `!!window.bwmon.state.charts.in`)
	b.eval(graphLabels, &labels)
	if strings.Contains(strings.Join(labels, "|"), "(other") {
		t.Fatalf("the live graph draws an idle (other): %q", labels)
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#range-24h"))); err != nil {
		t.Fatal(err)
	}
	b.waitJS(10*time.Second, "the 24-hour view", `(window.bwmon.state.day || []).length > 0`)
	b.eval(graphLabels, &labels)
	if strings.Contains(strings.Join(labels, "|"), "(other") {
		t.Fatalf("the 24-hour view draws (other) without a history: %q", labels)
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#range-15m"))); err != nil {
		t.Fatal(err)
	}

	// Once it moves bytes, it is drawn besides the others, by its label.
	otherRate = 4096
	for i := 3; i < 6; i++ {
		s.Consume(tick(t0.Add(time.Duration(i) * time.Second)))
	}
	b.waitJS(10*time.Second, "(other) in the live graph",
		`(window.bwmon.state.charts.in ? window.bwmon.state.charts.in.series.map(s => s.label || '') : []).includes('(other: 1412 apps)')`)
	var legend []string
	b.eval(`[...document.querySelectorAll('#legend .name')].map(e => e.textContent)`, &legend)
	if !strings.Contains(strings.Join(legend, "|"), "(other: 1412 apps)") {
		t.Errorf("legend %q lacks (other: 1412 apps)", legend)
	}
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged errors: %s", strings.Join(p, "\n"))
	}
	shot(t, b.ctx, "bounds.png")
}

// TestBrowserFull: when the agent serves as many live pages as it will,
// the page says so rather than calling the agent unreachable.
func TestBrowserFull(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{MaxClients: 1})
	s.Consume(snap(t0, map[string][2]float64{"curl": {1, 1}}))
	c, _, err := websocket.DefaultDialer.Dial(wsURL(ts.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 5*time.Second, "the first client", func() bool { return s.Clients() == 1 })

	b := newBrowser(t, chrome)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(ts.URL), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	b.waitJS(10*time.Second, "the banner to name the limit",
		`!document.getElementById('banner').hidden && document.getElementById('banner-text').textContent.includes('websocket_clients = 1')`)
	if s.Refused() == 0 {
		t.Error("the page's WebSocket was not refused")
	}
	shot(t, b.ctx, "full.png")

	// A place frees up: the page gets in on its next try.
	c.Close()
	b.waitJS(40*time.Second, "the page to get in", `document.getElementById('status').classList.contains('live')`)
}
