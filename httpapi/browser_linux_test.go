package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bwmon/bwmon/internal/nettest"
)

// webAgent is a bwmon binary serving HTTP, started by the test.
type webAgent struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var urlRE = regexp.MustCompile(`msg="serving the web page, API and metrics".* url=(http://\S+)`)

// startWebAgent runs bwmon with cfg and -output none, and returns once it
// has logged the address it serves on, as a user would read it.
func startWebAgent(t *testing.T, cfg string) *webAgent {
	t.Helper()
	bin := nettest.Build(t, "./cmd/bwmon")
	path := filepath.Join(t.TempDir(), "bwmon.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &webAgent{cmd: exec.Command(bin, "-config", path, "-output", "none", "-log-level", "info"), done: make(chan error, 1)}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			t.Log("bwmon: " + sc.Text())
		}
		a.done <- a.cmd.Wait()
	}()
	t.Cleanup(func() { a.stop(t) })
	select {
	case a.url = <-found:
	case <-time.After(15 * time.Second):
		t.Fatal("bwmon logged no address to open within 15 s")
	}
	return a
}

// stop sends SIGTERM and expects a clean exit within 10 s.
func (a *webAgent) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("bwmon exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Errorf("bwmon did not exit within 10 s of SIGTERM")
	}
}

// TestBrowser opens the page of a real agent in Chromium while a generator
// sends traffic in a network namespace: the app must appear in the table
// with a rate, the graph must grow, and when the agent goes away and comes
// back the page must say so and then recover.
func TestBrowser(t *testing.T) {
	nettest.RequireRoot(t)
	chrome := chromium(t)
	p := nettest.NewPair(t)
	p.Shape(t, "16mbit") // about 2 MB/s: a steady rate for several seconds
	srv, _ := nettest.Generator(t, "sink")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", p.PeerIP4.String()+":5001")

	listen := nettest.FreeAddr(t)
	cfg := fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n\n[http]\nlisten = %q\n\n[state]\ndir = %q # never the host's /var/lib/bwmon\n", p.Watched, listen, t.TempDir())
	agent := startWebAgent(t, cfg)
	if want := "http://" + listen + "/"; agent.url != want {
		t.Fatalf("bwmon says it serves %s, want %s", agent.url, want)
	}
	gen, app := nettest.Generator(t, "browse")
	nettest.Start(t, p.Watched, gen, "tcp-send", p.PeerIP4.String()+":5001", "2000000000")

	b := newBrowser(t, chrome)
	bctx := b.ctx
	if err := chromedp.Do(bctx, chromedp.Navigate(agent.url), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		t.Fatalf("opening %s: %v", agent.url, err)
	}
	eval := b.eval
	appJS, _ := json.Marshal(app)
	rowJS := fmt.Sprintf(`(() => {
		const tr = [...document.querySelectorAll('#rows tr')].find(r => r.dataset.app === %s);
		return tr ? {in: tr.querySelector('.rate-in').textContent, out: tr.querySelector('.rate-out').textContent} : null;
	})()`, appJS)

	// The app appears in the table with a rate.
	var row *struct{ In, Out string }
	deadline := time.Now().Add(30 * time.Second)
	for {
		row = nil
		eval(rowJS, &row)
		if row != nil && row.Out != "0 B/s" && row.Out != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the table shows %+v for %s, want a non-zero rate out", row, app)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("table row of %s: rate in %s, rate out %s", app, row.In, row.Out)

	// The graph draws the app and gains points.
	var labels []string
	eval(`window.bwmon.state.charts.in ? window.bwmon.state.charts.in.series.map(s => s.label || '') : []`, &labels)
	if !strings.Contains(strings.Join(labels, "\n"), app) {
		t.Fatalf("the graph draws %q, not %s", labels, app)
	}
	var n1, n2 int
	eval(`window.bwmon.points()`, &n1)
	deadline = time.Now().Add(10 * time.Second)
	for n2 <= n1 {
		if time.Now().After(deadline) {
			t.Fatalf("the graph stays at %d points", n1)
		}
		time.Sleep(500 * time.Millisecond)
		eval(`window.bwmon.points()`, &n2)
	}
	t.Logf("graph points: %d, then %d", n1, n2)
	time.Sleep(5 * time.Second) // a few more steps on the graph for the screenshot
	shot(t, bctx, "page.png")

	// Units switch to bits/s, in the table and on the axis.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#unit-bits"))); err != nil {
		t.Fatal(err)
	}
	eval(rowJS, &row)
	if row == nil || !strings.HasSuffix(row.Out, "bit/s") {
		t.Fatalf("after switching to bits/s the row shows %+v", row)
	}
	// The 24-hour view draws the minute averages and peaks.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#range-24h"))); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !slices.Contains(labels, app+" (peak)") {
		if time.Now().After(deadline) {
			t.Fatalf("the 24-hour view draws %q, want %s and its peak", labels, app)
		}
		time.Sleep(200 * time.Millisecond)
		eval(`window.bwmon.state.charts.in ? window.bwmon.state.charts.in.series.map(s => s.label || '') : []`, &labels)
	}
	shot(t, bctx, "day.png")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#range-15m")), chromedp.Click(chromedp.CSS("#unit-bytes"))); err != nil {
		t.Fatal(err)
	}

	var banner bool
	eval(`!document.getElementById('banner').hidden`, &banner)
	if banner {
		t.Fatal("the unreachable banner shows while the agent runs")
	}
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged errors: %s", strings.Join(p, "\n"))
	}

	// The agent goes away: the page says so at once.
	agent.stop(t)
	deadline = time.Now().Add(10 * time.Second)
	for !banner {
		if time.Now().After(deadline) {
			t.Fatal("no unreachable banner 10 s after the agent stopped")
		}
		time.Sleep(200 * time.Millisecond)
		eval(`!document.getElementById('banner').hidden`, &banner)
	}
	shot(t, bctx, "unreachable.png")

	// It comes back on the same address: the page reconnects by itself.
	startWebAgent(t, cfg)
	deadline = time.Now().Add(40 * time.Second)
	for {
		var st struct {
			Banner bool
			Status string
		}
		eval(`({banner: !document.getElementById('banner').hidden, status: document.getElementById('status').className})`, &st)
		if !st.Banner && strings.Contains(st.Status, "live") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("40 s after the agent came back: banner %v, status %q", st.Banner, st.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Log("the page reconnected to the restarted agent")
}
