package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

// newUsageTestServer is newTestServer with GET /api/v1/usage answered by
// usage, a handler of fixed JSON in front of the server: the page cannot
// tell it from the store's.
func newUsageTestServer(t *testing.T, opts Options, usage http.Handler) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/usage", usage)
	mux.Handle("/", s.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// fakeUsage serves GET /api/v1/usage as the state store would: five days,
// one of them without a record, or three months.
func fakeUsage(t *testing.T) http.Handler {
	day := func(start string, gib float64, apps ...state.AppBytes) state.PeriodUsage {
		p := state.PeriodUsage{Start: start, Apps: apps}
		for _, a := range apps {
			p.BytesIn += a.BytesIn
			p.BytesOut += a.BytesOut
		}
		p.BytesIn += uint64(gib * (1 << 30))
		p.Unattributed.BytesIn = uint64(gib * (1 << 30))
		return p
	}
	app := func(name string, in, out uint64) state.AppBytes {
		return state.AppBytes{App: name, BytesIn: in << 20, BytesOut: out << 20}
	}
	since := time.Date(2025, 4, 20, 9, 30, 0, 0, time.Local)
	total := state.PeriodUsage{Start: since.Format(time.RFC3339), BytesIn: 40 << 30, BytesOut: 2 << 30}
	days := state.Usage{Period: "day", Since: since, Total: total, Periods: []state.PeriodUsage{
		day("2025-05-28", 0.1, app("firefox", 900, 40), app("apt", 300, 2)),
		day("2025-05-29", 0, app("firefox", 1200, 60)),
		// 2025-05-30: the agent did not run
		day("2025-05-31", 0, app("firefox", 100, 5), app("steam", 3000, 20), state.AppBytes{App: model.OtherApp, BytesIn: 5 << 20, Folded: 3}),
		day("2025-06-01", 0.01, app("firefox", 400, 30), app(`<img src=x onerror="document.title='owned'">`, 10, 1)),
	}}
	months := state.Usage{Period: "month", Since: since, Total: total, Periods: []state.PeriodUsage{
		day("2025-04", 0, app("firefox", 9000, 400)),
		day("2025-05", 0.2, app("firefox", 20000, 900), app("steam", 3000, 20)),
		day("2025-06", 0, app("firefox", 400, 30)),
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := days
		if r.URL.Query().Get("period") == "month" {
			u = months
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(u); err != nil {
			t.Error(err)
		}
	})
}

// TestBrowserUsage: the usage card draws a bar per day (a day without a
// record too) and per month from GET /api/v1/usage, and picking one lists
// its apps; an agent without state says it has none.
func TestBrowserUsage(t *testing.T) {
	chrome := chromium(t)
	s, ts := newUsageTestServer(t, Options{}, fakeUsage(t))
	feed(t, s, pageTick([]pageApp{{name: "firefox", in: 5000, out: 300, procs: 3}}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "the usage bars", `document.querySelectorAll('#usage-cols .col').length > 0`)

	type col struct {
		Start string
		In    float64 // height in px of the in part
		Out   float64
		Label string
	}
	colsJS := `[...document.querySelectorAll('#usage-cols .col')].map(c => ({start: c.dataset.start,
		in: c.querySelector('.seg-in').getBoundingClientRect().height, out: c.querySelector('.seg-out').getBoundingClientRect().height,
		label: c.querySelector('.lbl').textContent}))`
	var cols []col
	b.eval(colsJS, &cols)
	var starts []string
	for _, c := range cols {
		starts = append(starts, c.Start)
	}
	if want := "2025-05-28 2025-05-29 2025-05-30 2025-05-31 2025-06-01"; strings.Join(starts, " ") != want {
		t.Fatalf("day bars %q, want %s", starts, want)
	}
	// Heights follow the bytes: 31 May (≈3.1 GiB) is the tallest, 30 May
	// (no record) has none, 29 May (1.2 GiB) is about 0.38 of 31 May.
	if cols[2].In != 0 || cols[2].Out != 0 || !(cols[3].In > cols[1].In) || cols[3].In < 100 {
		t.Fatalf("bars %+v: want 31 May tallest (over 100 px), 30 May empty", cols)
	}
	if r := cols[1].In / cols[3].In; r < 0.35 || r > 0.42 {
		t.Errorf("29 May is %.2f of 31 May, want about 0.38", r)
	}
	var detail struct {
		When string
		Apps []string
	}
	detailJS := `({when: document.getElementById('usage-when').textContent,
		apps: [...document.querySelectorAll('#usage-apps li .name')].map(e => e.textContent)})`
	b.eval(detailJS, &detail)
	if !strings.Contains(detail.When, "so far") || len(detail.Apps) != 2 || detail.Apps[0] != "firefox" {
		t.Fatalf("the latest day: %+v, want today so far with firefox and the hostile name", detail)
	}
	var markup bool
	b.eval(`!!document.querySelector('#usage-card img') || document.title === 'owned'`, &markup)
	if markup {
		t.Fatal("an app name of the usage was read as markup")
	}

	// Picking 31 May lists its apps, largest first, and "(other: 3 apps)".
	b.click("31 May", `document.querySelector('#usage-cols .col[data-start="2025-05-31"]')`)
	b.waitJS(5*time.Second, "31 May's apps", `document.querySelector('#usage-cols .col[data-start="2025-05-31"]').getAttribute('aria-pressed') === 'true'`)
	b.eval(detailJS, &detail)
	if strings.Contains(detail.When, "so far") || strings.Join(detail.Apps, "|") != "firefox|steam|(other: 3 apps)" {
		t.Fatalf("31 May: %+v", detail)
	}
	shot(t, b.ctx, "usage-days.png")

	// Months.
	b.click("Months", `document.getElementById('usage-month')`)
	b.waitJS(5*time.Second, "the month bars", `document.querySelectorAll('#usage-cols .col').length === 3`)
	b.eval(colsJS, &cols)
	if cols[0].Start != "2025-04" || cols[2].Start != "2025-06" || !(cols[1].In > cols[0].In && cols[0].In > cols[2].In) {
		t.Fatalf("month bars %+v", cols)
	}
	var title string
	b.eval(`document.getElementById('usage-title').textContent`, &title)
	if title != "Usage per month" {
		t.Errorf("title %q", title)
	}
	b.noProblems()

	// An agent without state has no usage, and the page says why.
	s2, ts2 := newTestServer(t, Options{})
	s2.Consume(pageTick([]pageApp{{name: "curl", in: 1, out: 1}})(t0))
	b.open(ts2.URL)
	b.waitJS(10*time.Second, "the note on state", `document.getElementById('usage-note').textContent.includes('keeps no state')`)
	var plot bool
	b.eval(`document.getElementById('usage-plot').hidden && document.getElementById('usage-detail').hidden`, &plot)
	if !plot {
		t.Error("bars show for an agent without state")
	}
}

// TestBrowserLayout: the page fits a 360 px phone (nothing scrolls
// sideways), and at 700 px the axis labels do not overlap, the headers fit
// their columns and numbers do not wrap. Screenshots at 360, 700 and
// 1280 px are left in testdata/screenshots.
func TestBrowserLayout(t *testing.T) {
	chrome := chromium(t)
	long := strings.Repeat("very-long-name-", 8)
	apps := []pageApp{
		{name: "nginx", in: 150 << 20, out: 12 << 20, step: 1 << 20, procs: 9,
			where: []model.Container{{Runtime: "docker", ID: "d548c5b83fa61d8e3bd86ad42a7ffea9", Name: "web-frontend-blue"}}},
		{name: "firefox", in: 3 << 20, out: 200 << 10, step: 1 << 10, procs: 14},
		{name: long, in: 999 << 10, out: 999 << 10, procs: 1},
		{name: `<img src=x onerror="document.title='owned'">`, in: 10, out: 10},
		{name: "syncthing", in: 90 << 10, out: 1 << 20, procs: 2},
		{name: "apt", in: 0, out: 0},
	}
	s, ts := newUsageTestServer(t, Options{Processes: fakeProcesses(map[string]int{"nginx": 30})}, fakeUsage(t))
	feed(t, s, pageTick(apps))
	b := newBrowser(t, chrome)
	b.open(ts.URL + "/#app=nginx")
	b.waitJS(10*time.Second, "nginx's processes", `document.querySelectorAll('#rows tr.detail .proc').length === 10`)
	b.waitJS(10*time.Second, "the usage bars", `document.querySelectorAll('#usage-cols .col').length === 5`)
	shot(t, b.ctx, "wide.png")

	for _, w := range []int64{360, 700} {
		b.viewport(w, 900)
		time.Sleep(time.Second) // a few ticks at this size
		var got struct {
			ScrollWidth int
			Wide        []string // elements wider than the window
		}
		b.eval(`({scrollWidth: document.documentElement.scrollWidth,
			wide: [...document.querySelectorAll('body *')].filter(e => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 0.5)
				.map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 10)})`, &got)
		if got.ScrollWidth > int(w) {
			t.Errorf("at %d px the page is %d px wide: %q stick out", w, got.ScrollWidth, got.Wide)
		}
		// Headers and numbers fit their cells, on one line.
		var cut []string
		b.eval(`[...document.querySelectorAll('#apps th button, #rows tr.row td:not(.app) > *, #rows tr.row td:not(.app), #forwarded th')]
			.filter(e => e.getClientRects().length && (e.scrollWidth > e.clientWidth + 1 || getComputedStyle(e).whiteSpace !== 'nowrap'))
			.map(e => e.textContent)`, &cut)
		if len(cut) > 0 {
			t.Errorf("at %d px these cells are cut or wrap: %q", w, cut)
		}
		// The graphs' axis labels do not overlap.
		var overlaps []string
		b.eval(axisOverlapJS, &overlaps)
		if len(overlaps) > 0 {
			t.Errorf("at %d px axis labels overlap: %q", w, overlaps)
		}
		shot(t, b.ctx, map[int64]string{360: "phone-360.png", 700: "narrow-700.png"}[w])
	}
	// The 24-hour view's axes at 700 px.
	b.click("24 hours", `document.getElementById('range-24h')`)
	b.waitJS(10*time.Second, "nginx's day", `(window.bwmon.state.day || []).length === 1 && !!window.bwmon.state.charts.in`)
	var overlaps []string
	b.eval(axisOverlapJS, &overlaps)
	if len(overlaps) > 0 {
		t.Errorf("at 700 px the 24-hour view's axis labels overlap: %q", overlaps)
	}
	shot(t, b.ctx, "narrow-700-day.png")
	// Phones get the totals under each name, where their columns are gone;
	// rates in bits/s, the longer unit, fit too.
	b.viewport(360, 900)
	b.click("bits/s", `document.getElementById('unit-bits')`)
	var cut []string
	b.eval(`[...document.querySelectorAll('#rows tr.row td:not(.app)')].filter(e => e.getClientRects().length && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)`, &cut)
	if len(cut) > 0 {
		t.Errorf("at 360 px in bits/s these cells are cut: %q", cut)
	}
	var sub string
	b.eval(`getComputedStyle(document.querySelector('#rows tr.row .sub')).display + ' ' + document.querySelector('#rows tr.row .sub').textContent`, &sub)
	if !strings.HasPrefix(sub, "block total ") {
		t.Errorf("at 360 px the name cell's totals line is %q", sub)
	}
	var owned bool
	b.eval(`document.title === 'owned' || !!document.querySelector('main img')`, &owned)
	if owned {
		t.Fatal("a name was read as markup")
	}
	b.noProblems()
}

// axisOverlapJS lists the pairs of labels of the graphs' axes that
// overlap, measuring each label as uPlot draws it.
const axisOverlapJS = `(() => {
	const out = [], c = document.createElement('canvas').getContext('2d');
	for (const u of [window.bwmon.state.charts.in, window.bwmon.state.charts.out]) {
		if (!u) continue;
		u.axes.forEach((ax, i) => {
			const vals = ax._values || [], splits = ax._splits || [];
			c.font = ax.font[0];
			const boxes = vals.map((v, j) => {
				if (v == null || v === '') return null;
				const p = u.valToPos(splits[j], i === 0 ? 'x' : 'y'), w = Math.max(...String(v).split('\n').map(s => c.measureText(s).width));
				return i === 0 ? [p - w / 2, p + w / 2, v] : [p - 7, p + 7, v, w];
			}).filter(b => b);
			for (let j = 1; j < boxes.length; j++) {
				const a = boxes[j - 1], b = boxes[j];
				if (Math.max(a[0], b[0]) < Math.min(a[1], b[1]) - 1) out.push(a[2] + ' / ' + b[2]);
			}
			if (i === 1) boxes.forEach(b => { if (b[3] > ax._size - 8) out.push(b[2] + ' wider than its axis'); });
		});
	}
	return out;
})()`
