package main

// The fleet test's agent restart: SIGKILL, staleness, BwmonAgentDown, and
// increase() across the restart.

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fleetRestart kills h's agent with SIGKILL while db has been idle a
// couple of flushes, checks that Prometheus sees it down and its series
// stale and fires BwmonAgentDown, restarts it on the same state, and checks
// that increase() over a window spanning the restart is what db moved in
// that window: the restored counter is no reset.
func fleetRestart(t *testing.T, prom *nettest.Prometheus, h *fleetHost, db, dbApp string) {
	sel := fmt.Sprintf(`bwmon_app_bytes_total{instance=%q, app=%q}`, h.name, dbApp)
	total := func() (float64, error) {
		v, err := promValues(prom, "sum("+sel+")", "")
		if err != nil {
			return 0, err
		}
		if len(v) == 0 {
			return 0, fmt.Errorf("no %s", sel)
		}
		return v[""], nil
	}
	start, err := total()
	if err != nil {
		t.Fatal(err)
	}
	windowStart := time.Now()
	send := func(port uint16, n int) uint64 {
		srv, _ := nettest.Generator(t, "srv")
		nettest.StartServer(t, h.peer, srv, "tcp-sink", fmt.Sprintf("%s:%d", h.peerIP, port))
		runAll(t, 30*time.Second, genRun{h.ns, db, []string{"-linger", "3s", "tcp-send", fmt.Sprintf("%s:%d", h.peerIP, port), strconv.Itoa(n)}})
		return h.ref(t, protoTCP, port)
	}
	waitTotal := func(want float64) {
		nettest.Eventually(t, 20*time.Second, func() error {
			got, err := total()
			if err != nil || !near(got, want, 0.02) {
				return fmt.Errorf("%s: %.0f (%v), want %.0f", sel, got, err, want)
			}
			return nil
		})
	}
	refA := send(6105, 2<<20)
	waitTotal(start + float64(refA))
	time.Sleep(2500 * time.Millisecond) // two flushes of the state past the count
	killed, err := total()
	if err != nil {
		t.Fatal(err)
	}

	h.a.kill(t)
	nettest.Eventually(t, 15*time.Second, func() error {
		up, err := promValues(prom, `up{job="bwmon"}`, "instance")
		if err != nil {
			return err
		}
		left, err := promValues(prom, `count by (instance) (bwmon_app_bytes_total)`, "instance")
		if err != nil {
			return err
		}
		if v, ok := up[h.name]; !ok || v != 0 {
			return fmt.Errorf("up %v, want %s at 0", up, h.name)
		}
		if _, ok := left[h.name]; ok || len(left) != 2 {
			return fmt.Errorf("series per instance %v: want %s's stale and the others' there", left, h.name)
		}
		return nil
	})
	down := waitAlert(t, prom, 30*time.Second, true, "BwmonAgentDown", map[string]string{"instance": h.name})
	t.Logf("%s killed: up 0, its series stale, BwmonAgentDown firing after %s", h.name, time.Since(windowStart).Round(time.Second))

	h.a = startAgent(t, h.cfg)
	nettest.Eventually(t, 15*time.Second, func() error {
		got, err := total()
		if err != nil {
			return err
		}
		if got < killed {
			t.Fatalf("after the restart %s = %.0f, less than the %.0f before the kill: a counter reset", sel, got, killed)
		}
		return nil
	})
	refB := send(6106, 3<<20)
	waitTotal(killed + float64(refB))
	time.Sleep(2 * time.Second) // samples of the settled value
	waitAlert(t, prom, 30*time.Second, false, "BwmonAgentDown", map[string]string{"instance": h.name})

	// The window: from the last sample before the first transfer to the
	// latest one, to the millisecond, so that increase() extrapolates
	// nothing past its samples and the comparison is the counting's.
	one := sel[:len(sel)-1] + `, direction="out"}`
	raw, err := prom.Query(fmt.Sprintf("%s[%ds]", one, int(time.Since(windowStart).Seconds())+10), time.Time{})
	if err != nil || len(raw) != 1 {
		t.Fatalf("raw samples of %s: %v (%d series)", one, err, len(raw))
	}
	pts := raw[0].Points
	first := -1
	for i, p := range pts {
		if !p.T.After(windowStart) {
			first = i
		}
	}
	if first < 0 {
		t.Fatalf("no sample of %s before %s: %v", one, windowStart, pts)
	}
	from, to := pts[first].T, pts[len(pts)-1].T
	window := fmt.Sprintf("%dms", to.Sub(from).Milliseconds()+1)
	incRes, err := prom.Query(fmt.Sprintf("sum(increase(%s[%s]))", sel, window), to)
	if err != nil || len(incRes) != 1 {
		t.Fatalf("increase over %s: %v", window, err)
	}
	resetsRes, err := prom.Query(fmt.Sprintf("sum(resets(%s[%s]))", sel, window), to)
	if err != nil || len(resetsRes) != 1 {
		t.Fatalf("resets over %s: %v", window, err)
	}
	want := float64(refA + refB)
	got := incRes[0].Last()
	t.Logf("increase over %s across the restart (%s to %s, %d samples, down at %s): %.0f, moved %.0f (%.4f); a reset would have added %.0f",
		window, from.Format("15:04:05.000"), to.Format("15:04:05.000"), len(pts)-first, down.Format("15:04:05"), got, want, got/want, killed)
	if n := resetsRes[0].Last(); n != 0 {
		t.Errorf("resets() over the window spanning the restart: %v, want 0", n)
	}
	if !near(got, want, 0.02) {
		t.Errorf("increase() over the window spanning the restart: %.0f, want %.0f (±2%%): what db moved in the window", got, want)
	}
}
