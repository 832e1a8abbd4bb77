package httpapi

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserClasses: the focused app's row shows its bytes by
// destination class, the largest first, with each class's share, and
// follows the ticks; an app without classes shows none.
func TestBrowserClasses(t *testing.T) {
	chrome := chromium(t)
	s, ts, _ := newLoggedServer(t, Options{Processes: fakeProcesses(map[string]int{"sync": 2, "curl": 1})})
	feed(t, s, pageTick([]pageApp{
		{name: "sync", in: 200000, out: 100000, step: 100, procs: 2, classes: map[string]float64{"internet": 0.75, "lab": 0.25}},
		{name: "curl", in: 50000, out: 1000, procs: 1},
	}))
	b := newBrowser(t, chrome)
	b.open(ts.URL)
	b.waitJS(10*time.Second, "two apps in the graph", graphLabelsJS+`.length === 2`)

	b.click("sync's row", rowJS("sync"))
	const rowsJS = `[...document.querySelectorAll('#rows tr.detail .class-row')]`
	b.waitJS(5*time.Second, "sync's classes", rowsJS+`.length === 2`)
	var got struct {
		Names, Shares []string
		Hidden        bool
		Rate          string
	}
	b.eval(`({names: `+rowsJS+`.map(r => r.querySelector('.cname').textContent),
		shares: `+rowsJS+`.map(r => r.querySelector('.cbytes').textContent.split(' · ')[2]),
		hidden: document.querySelector('#rows tr.detail .class-split').hidden,
		rate: `+rowsJS+`[0].querySelector('.prate').textContent})`, &got)
	if !slices.Equal(got.Names, []string{"internet", "lab"}) || !slices.Equal(got.Shares, []string{"75.0 %", "25.0 %"}) || got.Hidden ||
		!strings.HasPrefix(got.Rate, "now in ") {
		t.Fatalf("sync's classes: %+v", got)
	}
	// The rates follow the ticks.
	var first string
	b.eval(rowsJS+`[0].querySelector('.prate').textContent`, &first)
	b.waitJS(10*time.Second, "the class rates move", rowsJS+`[0].querySelector('.prate').textContent !== `+strconv.Quote(first))
	shot(t, b.ctx, "classes.png")

	b.click("curl's row", rowJS("curl"))
	b.waitJS(5*time.Second, "curl without classes", `document.querySelector('#rows tr.detail .class-split').hidden && `+rowsJS+`.length === 0`)
	b.noProblems()
}
