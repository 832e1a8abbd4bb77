package httpapi

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bwmon/bwmon/model"
)

// requestLog records the requests a page makes, for tests that count them.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

// count returns how many requests went to path, and the query of the
// latest.
func (l *requestLog) count(path string) (n int, last url.Values) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if r.URL.Path == path {
			n++
			last = r.URL.Query()
		}
	}
	return n, last
}

// newLoggedServer is newTestServer with every request logged.
func newLoggedServer(t *testing.T, opts Options) (*Server, *httptest.Server, *requestLog) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	h := s.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		log.reqs = append(log.reqs, r.Clone(r.Context()))
		log.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts, log
}

// pageApp is an app of a fake tick: its rates grow by step each second, so
// that two points of the graph differ.
type pageApp struct {
	name      string
	in, out   float64 // bytes/s at t0
	step      float64 // bytes/s more each second
	procs     int
	where     []model.Container
	idleAfter time.Duration // 0: never idle
	// classes splits its bytes and rates by destination class: each
	// class's share (nil: none).
	classes map[string]float64
}

// pageTick makes ticks of apps as the aggregator would: busiest first (a
// stable order), totals the sum of the rates so far, since a day before t0.
func pageTick(apps []pageApp) func(now time.Time) *model.Snapshot {
	return func(now time.Time) *model.Snapshot {
		k := now.Sub(t0).Seconds()
		s := &model.Snapshot{Time: now, Since: t0.Add(-26 * time.Hour), IntervalS: 1, Apps: []model.AppUsage{},
			Unattributed: model.Unattributed{BytesIn: 4096, RateIn: 10, Reasons: map[model.Reason]model.UnattributedSum{
				model.ReasonNoSocket: {BytesIn: 4096}}},
			Forwarded: model.Forwarded{Hosts: []model.ForwardedHosts{}}}
		for _, a := range apps {
			in, out := a.in+a.step*k, a.out+a.step*k/4
			if a.idleAfter > 0 && now.Sub(t0) >= a.idleAfter {
				in, out = 0, 0
			}
			u := model.AppUsage{App: a.name, RateIn: in, RateOut: out,
				BytesIn: uint64(1<<30 + in*(k+1)), BytesOut: uint64(1<<20 + out*(k+1)), PIDs: []int{}, Processes: a.procs,
				Containers: a.where, NetNS: []string{}}
			for name, f := range a.classes {
				if u.Classes == nil {
					u.Classes = map[string]model.AppClass{}
				}
				u.Classes[name] = model.AppClass{BytesIn: uint64(float64(u.BytesIn) * f), BytesOut: uint64(float64(u.BytesOut) * f),
					RateIn: in * f, RateOut: out * f}
			}
			for i := range min(a.procs, 4) {
				u.PIDs = append(u.PIDs, 1000+i)
			}
			s.Apps = append(s.Apps, u)
		}
		slices.SortStableFunc(s.Apps, func(x, y model.AppUsage) int {
			return cmp.Or(cmp.Compare(y.RateIn+y.RateOut, x.RateIn+x.RateOut), cmp.Compare(x.App, y.App))
		})
		return s
	}
}

// fakeProcesses lists n processes for each app of apps, with long command
// lines, and nil (unknown) for the others.
func fakeProcesses(apps map[string]int) func(string) []model.ProcessUsage {
	return func(app string) []model.ProcessUsage {
		n, ok := apps[app]
		if !ok {
			return nil
		}
		ps := make([]model.ProcessUsage, n)
		for i := range ps {
			ps[i] = model.ProcessUsage{PID: 1000 + i, Name: app, User: model.UserRef{UID: 33, Name: "www-data"},
				Cmdline: fmt.Sprintf("/usr/sbin/%s -g daemon off; worker %d %s", app, i, strings.Repeat("--flag=value ", 12)),
				Unit:    app + ".service", BytesIn: uint64(1000 * (n - i)), RateIn: float64(100 * (n - i)), RateOut: 1}
		}
		return ps
	}
}

// open navigates b to url and waits for the first rows.
func (b *browser) open(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		b.t.Fatalf("opening %s: %v", url, err)
	}
	b.waitJS(10*time.Second, "the table", `document.querySelectorAll('#rows tr.row').length > 0`)
}

// click clicks the element js evaluates to, as a person would (a real
// mouse event at its centre).
func (b *browser) click(what, js string) {
	b.t.Helper()
	var at struct{ X, Y float64 }
	b.eval(`(() => { const e = `+js+`; e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, &at)
	if err := chromedp.Do(b.ctx, chromedp.MouseClickXY(at.X, at.Y)); err != nil {
		b.t.Fatalf("clicking %s: %v", what, err)
	}
}

// hover moves the mouse over the graph of rates in, at fraction fx of its
// width.
func (b *browser) hover(fx float64) {
	b.t.Helper()
	var r struct{ Left, Top, Width, Height float64 }
	b.eval(`(() => { const o = document.querySelector('#chart-in .u-over'); o.scrollIntoView({block: 'center'});
		const r = o.getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`, &r)
	x, y := r.Left+fx*r.Width, r.Top+r.Height/2
	if err := chromedp.Do(b.ctx, chromedp.MouseEvent("mouseMoved", x, y)); err != nil {
		b.t.Fatalf("moving the mouse to %v,%v: %v", x, y, err)
	}
}

// viewport resizes the page's window to a width in CSS pixels.
func (b *browser) viewport(width, height int64) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, height)); err != nil {
		b.t.Fatalf("resizing to %d px: %v", width, err)
	}
	b.waitJS(5*time.Second, "the new width", fmt.Sprintf(`window.innerWidth === %d`, width))
}

// noProblems fails t if the page logged an exception or a refusal.
func (b *browser) noProblems() {
	b.t.Helper()
	if p := b.problems(); len(p) > 0 {
		b.t.Errorf("the page logged errors: %s", strings.Join(p, "\n"))
	}
}
