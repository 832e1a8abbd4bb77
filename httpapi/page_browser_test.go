package httpapi

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/bwmon/bwmon/model"
)

// The page's questions, asked in Chromium of a server in the test process
// fed fake ticks (no root needed): focus an app, read values under the
// cursor, filter, and the requests and DOM work it costs.

const graphLabelsJS = `(window.bwmon.state.charts.in ? window.bwmon.state.charts.in.series.slice(1).map(s => s.label) : [])`

// rowJS is the table row of app.
func rowJS(app string) string {
	return fmt.Sprintf(`document.querySelector('#rows tr.row[data-app="' + CSS.escape(%q) + '"]')`, app)
}

// TestBrowserFocus: clicking a row draws that app alone and lists its
// processes under the row, refreshed; the 24-hour view follows; "Show all
// apps", the keyboard (Enter, Escape) and a link (#app=NAME) work too.
func TestBrowserFocus(t *testing.T) {
	chrome := chromium(t)
	s, ts, log := newLoggedServer(t, Options{Processes: fakeProcesses(map[string]int{"nginx": 3, "curl": 0})})
	feed(t, s, pageTick([]pageApp{
		{name: "nginx", in: 200000, out: 10000, step: 100, procs: 3},
		{name: "curl", in: 50000, out: 1000, procs: 1},
		{name: "firefox", in: 3000, out: 300, procs: 9},
		{name: "apt", procs: 0}, // idle: no history, no line until focused
	}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "three apps in the graph", graphLabelsJS+`.length === 3`)

	b.click("nginx's row", rowJS("nginx"))
	b.waitJS(5*time.Second, "nginx alone in the graph", `JSON.stringify(`+graphLabelsJS+`) === '["nginx"]'`)
	b.waitJS(5*time.Second, "nginx's processes",
		`[...document.querySelectorAll('#rows tr.detail .proc .pid')].map(e => e.textContent).join(' ') === '1000 1001 1002'`)
	var got struct {
		Title, Hash, Expanded, Focus string
		After                        bool // the processes come right after nginx's row
		Legend                       []string
	}
	stateJS := `({title: document.getElementById('graph-title').textContent, hash: location.hash,
		expanded: ` + rowJS("nginx") + `.getAttribute('aria-expanded'),
		focus: document.getElementById('focus-bar').hidden ? '' : document.getElementById('focus-name').textContent,
		after: ` + rowJS("nginx") + `.nextElementSibling === document.querySelector('#rows tr.detail'),
		legend: [...document.querySelectorAll('#legend .name')].map(e => e.textContent)})`
	b.eval(stateJS, &got)
	if got.Title != "nginx, last 15 minutes" || got.Hash != "#app=nginx" || got.Expanded != "true" || got.Focus != "nginx" ||
		!got.After || !slices.Equal(got.Legend, []string{"nginx"}) {
		t.Fatalf("focused on nginx: %+v", got)
	}
	var cmd string
	b.eval(`document.querySelector('#rows tr.detail .proc .cmd').textContent`, &cmd)
	if !strings.HasPrefix(cmd, "/usr/sbin/nginx -g daemon off; worker 0") {
		t.Errorf("first process's command line %q", cmd)
	}
	// The list is asked for again while it is open.
	n1, q := log.count("/api/v1/processes")
	if n1 < 1 || q.Get("app") != "nginx" {
		t.Fatalf("%d requests for processes, last %v", n1, q)
	}
	eventually(t, 10*time.Second, "the list refreshed", func() bool { n, _ := log.count("/api/v1/processes"); return n > n1 })

	// The 24-hour view shows nginx alone too, with its peaks.
	b.click("24 hours", `document.getElementById('range-24h')`)
	b.waitJS(10*time.Second, "nginx's day", `JSON.stringify(`+graphLabelsJS+`) === '["nginx","nginx (peak)"]'`)
	b.eval(stateJS, &got)
	if got.Title != "nginx, last 24 hours" {
		t.Errorf("24-hour title %q", got.Title)
	}
	b.click("15 min", `document.getElementById('range-15m')`)

	// An idle app, focused, gets a flat line and its (empty) list.
	b.click("apt's row", rowJS("apt"))
	b.waitJS(5*time.Second, "apt alone", `JSON.stringify(`+graphLabelsJS+`) === '["apt"]'`)
	b.waitJS(5*time.Second, "apt's note", `document.querySelector('#rows tr.detail').textContent.includes('The agent no longer lists apt')`)
	b.click("curl's row", rowJS("curl"))
	b.waitJS(5*time.Second, "curl's empty list", `document.querySelector('#rows tr.detail').textContent.includes('No live process')`)
	shot(t, b.ctx, "focus.png")

	// "Show all apps" goes back to the busiest.
	b.click("Show all apps", `document.getElementById('focus-clear')`)
	b.waitJS(5*time.Second, "all apps again", graphLabelsJS+`.length === 3 && !document.querySelector('#rows tr.detail') && location.hash === ''`)

	// The keyboard: Enter on a row opens it, Escape closes it.
	if err := chromedp.Do(b.ctx, chromedp.Focus(chromedp.CSS(`#rows tr.row[data-app="firefox"]`)), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "firefox focused", `JSON.stringify(`+graphLabelsJS+`) === '["firefox"]'`)
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "focus gone", graphLabelsJS+`.length === 3`)

	// A link names the app to focus.
	b.open(ts.URL + "/#app=curl")
	b.waitJS(10*time.Second, "curl from the link", `JSON.stringify(`+graphLabelsJS+`) === '["curl"]' && !!document.querySelector('#rows tr.detail')`)
	b.noProblems()
}

// TestBrowserHover: pointing at a graph shows, in the legend, each app's
// rates at that point, and they follow the pointer; away from the graph
// the legend shows the latest.
func TestBrowserHover(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{})
	feed(t, s, pageTick([]pageApp{
		{name: "nginx", in: 100000, out: 1000, step: 5000},
		{name: "curl", in: 20000, out: 100},
	}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(20*time.Second, "30 points", `window.bwmon.points() >= 30`)
	var at string
	b.eval(`document.getElementById('legend-at').textContent`, &at)
	if !strings.HasPrefix(at, "Latest, ") {
		t.Fatalf("legend heading %q before hovering", at)
	}

	// legendJS reads the legend and, in the same turn, the value of the
	// chart's data under the cursor, formatted as the page does.
	const legendJS = `(() => {
		const u = window.bwmon.state.charts.in, i = u.series.findIndex(s => s.label === 'nginx'), j = u.cursor.idx;
		const li = [...document.querySelectorAll('#legend li')].find(l => l.dataset.app === 'nginx');
		return {at: document.getElementById('legend-at').textContent, shown: li.querySelector('.v-in').textContent,
			want: j == null ? '' : 'in ' + window.bwmon.fmtRate(u.data[i][j]), left: u.cursor.left};
	})()`
	type legend struct {
		At, Shown, Want string
		Left            float64
	}
	read := func(fx float64) legend {
		t.Helper()
		b.hover(fx)
		b.waitJS(5*time.Second, "the values under the cursor", `document.getElementById('legend-at').textContent.startsWith('At ')`)
		var l legend
		b.eval(legendJS, &l)
		if l.Shown != l.Want || !strings.Contains(l.Shown, "/s") {
			t.Fatalf("at %.0f%% of the graph the legend shows %q, the data there is %q (%+v)", 100*fx, l.Shown, l.Want, l)
		}
		return l
	}
	early, late := read(0.45), read(0.97)
	if early.Shown == late.Shown || early.At == late.At {
		t.Fatalf("the legend does not follow the cursor: %+v, then %+v", early, late)
	}
	t.Logf("legend at 45%%: %s %s; at 97%%: %s %s", early.At, early.Shown, late.At, late.Shown)
	// The graph of rates out follows (the cursors are synced).
	var outIdx, inIdx int
	b.eval(`window.bwmon.state.charts.out.cursor.idx`, &outIdx)
	b.eval(`window.bwmon.state.charts.in.cursor.idx`, &inIdx)
	if outIdx != inIdx {
		t.Errorf("cursor at %d on the rates in, %d on the rates out", inIdx, outIdx)
	}
	shot(t, b.ctx, "hover.png")

	// Away from the graph: the latest values.
	if err := chromedp.Do(b.ctx, chromedp.MouseEvent("mouseMoved", 5, 5)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "the latest values", `document.getElementById('legend-at').textContent.startsWith('Latest, ')`)
	b.noProblems()
}

// TestBrowserFilter: typing in the filter hides the rows whose name (or
// container) does not hold it, whatever the case, through ticks; Escape
// empties it.
func TestBrowserFilter(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{})
	feed(t, s, pageTick([]pageApp{
		{name: "nginx", in: 5000, out: 100, where: []model.Container{{Runtime: "docker", ID: "d548c5b83fa6", Name: "frontend"}}},
		{name: "firefox", in: 4000, out: 100},
		{name: "Firefox-ESR", in: 3000, out: 100},
		{name: "curl", in: 2000, out: 100},
	}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "four rows", `document.querySelectorAll('#rows tr.row').length === 4`)
	const visibleJS = `[...document.querySelectorAll('#rows tr.row')].filter(r => r.getClientRects().length).map(r => r.dataset.app).join('|')`

	// "/" goes to the filter box. (Chromium's DevTools send the key's
	// character apart from the key, so it lands in the box: empty it.)
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent("/")); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "the filter box focused", `document.activeElement.id === 'filter'`)
	b.eval(`(document.getElementById('filter').value = '', true)`, new(bool))
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent("fIRe")); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "the firefoxes only", visibleJS+` === 'firefox|Firefox-ESR'`)
	time.Sleep(time.Second) // ticks come: the filter holds
	var got struct{ Visible, Summary string }
	b.eval(`({visible: `+visibleJS+`, summary: document.getElementById('summary').textContent})`, &got)
	if got.Visible != "firefox|Firefox-ESR" || got.Summary != "2 of 4 match" {
		t.Fatalf("after ticks: %+v", got)
	}
	shot(t, b.ctx, "filter.png")

	for _, tt := range []struct{ name, typed, want string }{
		{"a container's name", "frontend", "nginx"},
		{"nothing", "zzz", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b.eval(`(document.getElementById('filter').value = '', true)`, new(bool))
			if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#filter"), tt.typed)); err != nil {
				t.Fatal(err)
			}
			b.waitJS(5*time.Second, tt.want, visibleJS+` === `+fmt.Sprintf("%q", tt.want))
		})
	}
	var none bool
	b.eval(`!document.getElementById('no-match').hidden`, &none)
	if !none {
		t.Error("no line says that nothing matches")
	}
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(5*time.Second, "every row again", visibleJS+` === 'nginx|firefox|Firefox-ESR|curl'`)
	b.noProblems()
}

// TestBrowserInPlace: ticks change a row's numbers, not the row: the same
// element stays, and the table's children are not replaced; sorting moves
// rows without making new ones.
func TestBrowserInPlace(t *testing.T) {
	chrome := chromium(t)
	s, ts := newTestServer(t, Options{})
	feed(t, s, pageTick([]pageApp{
		{name: "nginx", in: 900000, out: 1000, step: 10000},
		{name: "curl", in: 20000, out: 100, step: 10},
		{name: "apt", in: 100, out: 100},
	}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "three rows", `document.querySelectorAll('#rows tr.row').length === 3`)
	b.eval(`(() => {
		window.__row = `+rowJS("nginx")+`;
		window.__rate = window.__row.querySelector('.rate-in').textContent;
		window.__elems = 0; // elements added to or removed from the table
		new MutationObserver(ms => ms.forEach(m => [...m.addedNodes, ...m.removedNodes].forEach(n => { if (n.nodeType === 1) window.__elems++; })))
			.observe(document.getElementById('rows'), {childList: true, subtree: true});
		return true;
	})()`, new(bool))
	b.waitJS(10*time.Second, "a new rate for nginx", `window.__row.querySelector('.rate-in').textContent !== window.__rate`)
	time.Sleep(2 * time.Second) // ten more ticks
	var got struct {
		Same  bool
		Elems int
		Cells int
	}
	check := `({same: ` + rowJS("nginx") + ` === window.__row && window.__row.isConnected, elems: window.__elems,
		cells: document.querySelectorAll('#rows td').length})`
	b.eval(check, &got)
	if !got.Same || got.Elems != 0 || got.Cells != 18 {
		t.Fatalf("after ticks: %+v; want nginx's row the same element, no element added or removed, 18 cells", got)
	}

	// Sorting by name moves the rows, and keeps them.
	b.click("the App header", `document.querySelector('#apps th[data-key="app"] button')`)
	b.waitJS(5*time.Second, "rows by name", `[...document.querySelectorAll('#rows tr.row')].map(r => r.dataset.app).join() === 'apt,curl,nginx'`)
	b.eval(check, &got)
	if !got.Same {
		t.Fatal("sorting made a new row for nginx")
	}
	b.noProblems()
}

// TestBrowserBatchHistory: on opening and on every reconnect the page asks
// for the history of all the apps it draws in one request, never one per
// app; the 24-hour view too.
func TestBrowserBatchHistory(t *testing.T) {
	chrome := chromium(t)
	s, ts, log := newLoggedServer(t, Options{})
	var apps []pageApp
	for i := range 9 {
		apps = append(apps, pageApp{name: fmt.Sprintf("app-%d", i), in: float64(1000 * (10 - i)), out: 100})
	}
	feed(t, s, pageTick(apps))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "the live status", `document.getElementById('status').classList.contains('live')`)

	n, q := log.count("/api/v1/histories")
	single, _ := log.count("/api/v1/history")
	if n != 1 || single != 0 || len(q["app"]) != 9 || q.Get("since") != "15m" {
		t.Fatalf("on opening: %d batch requests (last %v), %d single ones; want one for the 9 apps", n, q, single)
	}
	// The page's WebSocket drops: it reconnects, and asks once more.
	b.eval(`(window.bwmon.state.ws.close(), true)`, new(bool))
	eventually(t, 15*time.Second, "a second batch request", func() bool { n, _ := log.count("/api/v1/histories"); return n == 2 })
	b.waitJS(10*time.Second, "the page live again", `document.getElementById('status').classList.contains('live')`)
	time.Sleep(time.Second)
	n, _ = log.count("/api/v1/histories")
	single, _ = log.count("/api/v1/history")
	if n != 2 || single != 0 {
		t.Fatalf("after a reconnect: %d batch requests, %d single ones; want 2 and 0", n, single)
	}
	b.click("24 hours", `document.getElementById('range-24h')`)
	eventually(t, 10*time.Second, "the day's request", func() bool { n, _ := log.count("/api/v1/histories"); return n == 3 })
	_, q = log.count("/api/v1/histories")
	if len(q["app"]) != 6 || q.Get("since") != "24h" {
		t.Fatalf("the 24-hour view asked for %v, want the 6 largest apps over 24h", q)
	}
	b.noProblems()
}
