package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// The fleet: three agents in three network namespaces stand for three
// hosts, scraped by a real Prometheus (Debian's prometheus package) every
// second and running the shipped rules; the test asks Prometheus' HTTP API
// what people ask of a fleet and checks the answers against the bytes the
// generators moved, read from the peers' conntrack tables.

// fleetHost is one host: an agent watching ns, where the host's apps run,
// with its own state directory and HTTP port; its servers answer at
// peerIP in namespace peer, whose conntrack table is the reference.
type fleetHost struct {
	name   string // the instance label Prometheus gives it
	ns     string
	peer   string
	peerIP netip.Addr
	addr   string // 127.0.0.1:PORT, kept across a restart
	cfg    string
	a      *agent
}

// ref returns what the host's flows to port moved, both ways, at the IP
// layer: what bwmon should count.
func (h *fleetHost) ref(t *testing.T, proto uint8, port uint16) uint64 {
	t.Helper()
	orig, reply := nettest.ConntrackBytes(t, h.peer, nettest.ToPort(proto, port))
	return orig + reply
}

// genRun is one generator run: path with args in namespace ns.
type genRun struct {
	ns, path string
	args     []string
}

func (g genRun) run(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", g.ns, g.path}, g.args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s in %s: %v\n%s", filepath.Base(g.path), strings.Join(g.args, " "), g.ns, err, out)
	}
	return nil
}

// runAll runs every generator at once, each to completion within
// timeout, and fails t for any that does not exit 0.
func runAll(t *testing.T, timeout time.Duration, runs ...genRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	errs := make(chan error, len(runs))
	for _, r := range runs {
		go func() { errs <- r.run(ctx) }()
	}
	for range runs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func TestFleetPrometheus(t *testing.T) {
	nettest.RequireRoot(t)
	nettest.LookPrometheus(t)
	began := time.Now()

	// host1 and host2 are hosts with their apps; host3 is a gateway whose
	// own apps talk to the outside and which routes an inside host's
	// traffic (forwarded).
	p1, p2 := nettest.NewPair(t), nettest.NewPair(t)
	r := nettest.NewRouted(t)
	hosts := []*fleetHost{
		{name: "host1", ns: p1.Watched, peer: p1.Peer, peerIP: p1.PeerIP4},
		{name: "host2", ns: p2.Watched, peer: p2.Peer, peerIP: p2.PeerIP4},
		{name: "host3", ns: r.Gateway, peer: r.Outside, peerIP: r.OutsideIP},
	}
	host1, host2, host3 := hosts[0], hosts[1], hosts[2]
	for _, h := range hosts {
		nettest.EngageConntrack(t, h.peer)
		h.addr = fmt.Sprintf("127.0.0.1:%d", nettest.FreePort(t))
		h.cfg = fmt.Sprintf("[state]\ndir = %q\nflush = \"1s\"\n[http]\nlisten = %q\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n",
			t.TempDir(), h.addr, h.ns)
	}
	prom, nRules := fleetPrometheus(t, hosts)
	for _, h := range hosts {
		h.a = startAgent(t, h.cfg)
	}
	nettest.Eventually(t, 20*time.Second, func() error {
		up, err := promValues(prom, `up{job="bwmon"}`, "instance")
		if err != nil {
			return err
		}
		if up["host1"]+up["host2"]+up["host3"] != 3 {
			return fmt.Errorf("targets up: %v, want all three", up)
		}
		return nil
	})

	// The apps: web runs on every host, db on two, backup on the gateway
	// only, bulk sends 20 MB/s for 25 s on host1 (over the SLA's
	// 100 Mbit/s).
	web, webApp := nettest.Generator(t, "fleetweb")
	db, dbApp := nettest.Generator(t, "fleetdb")
	bk, bkApp := nettest.Generator(t, "fleetbackup")
	bulk, bulkApp := nettest.Generator(t, "fleetbulk")
	fwd, _ := nettest.Generator(t, "fleetrouted")
	stray, _ := nettest.Generator(t, "fleetstray")
	srv, _ := nettest.Generator(t, "srv")
	type flow struct {
		h    *fleetHost
		path string
		app  string
		port uint16
		n    int
	}
	flows := []flow{
		{host1, web, webApp, 6001, 5 << 20}, {host2, web, webApp, 6001, 5 << 20}, {host3, web, webApp, 6001, 5 << 20},
		{host1, db, dbApp, 6002, 4 << 20}, {host2, db, dbApp, 6002, 4 << 20},
		{host3, bk, bkApp, 6003, 12 << 20},
	}
	hp := func(h *fleetHost, port uint16) string { return fmt.Sprintf("%s:%d", h.peerIP, port) }
	for _, f := range flows {
		nettest.StartServer(t, f.h.peer, srv, "tcp-sink", hp(f.h, f.port))
	}
	const bulkPort, fwdPort, strayPort = 6010, 6004, 6999
	nettest.StartServer(t, host1.peer, srv, "tcp-sink", hp(host1, bulkPort))
	nettest.StartServer(t, host3.peer, srv, "tcp-sink", hp(host3, fwdPort))

	var bulkErr error
	bulkDone := make(chan struct{})
	bulkCtx, stopBulk := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(func() { stopBulk(); <-bulkDone })
	go func() {
		defer close(bulkDone)
		bulkErr = genRun{host1.ns, bulk, []string{"-rate", "20000000", "-linger", "2s", "tcp-send", hp(host1, bulkPort), strconv.Itoa(500_000_000)}}.run(bulkCtx)
	}()
	runs := []genRun{
		// Routed by host3 between the inside host and the outside: forwarded.
		{r.Inside, fwd, []string{"-linger", "3s", "tcp-send", hp(host3, fwdPort), strconv.Itoa(3 << 20)}},
		// To a port of host2 nobody listens on: unattributed (no_socket).
		{host2.peer, stray, []string{"udp-send", fmt.Sprintf("%s:%d", p2.WatchedIP4, strayPort), strconv.Itoa(1 << 20), "1000"}},
	}
	for _, f := range flows {
		runs = append(runs, genRun{f.h.ns, f.path, []string{"-linger", "3s", "tcp-send", hp(f.h, f.port), strconv.Itoa(f.n)}})
	}
	runAll(t, 60*time.Second, runs...)

	t.Run("SLA alert fires", func(t *testing.T) {
		at := waitAlert(t, prom, 45*time.Second, true, "BwmonAppBandwidthHigh", map[string]string{"instance": "host1", "app": bulkApp, "direction": "out"})
		t.Logf("BwmonAppBandwidthHigh firing for %s on host1 after %s", bulkApp, at.Sub(began).Round(time.Second))
	})
	<-bulkDone
	if bulkErr != nil {
		t.Fatal(bulkErr)
	}

	// The references, now that every flow is over.
	perHost := map[string]map[string]uint64{} // app → host → bytes
	add := func(app, host string, n uint64) {
		if perHost[app] == nil {
			perHost[app] = map[string]uint64{}
		}
		perHost[app][host] += n
	}
	for _, f := range flows {
		add(f.app, f.h.name, f.h.ref(t, protoTCP, f.port))
	}
	add(bulkApp, host1.name, host1.ref(t, protoTCP, bulkPort))
	strayRef := host2.ref(t, protoUDP, strayPort)
	fwdRef := host3.ref(t, protoTCP, fwdPort)
	perApp := map[string]uint64{}
	perInstance := map[string]uint64{}
	for app, hs := range perHost {
		for h, n := range hs {
			perApp[app] += n
			perInstance[h] += n
		}
	}

	// Wait until Prometheus has every app of every host within 2 %.
	nettest.Eventually(t, 20*time.Second, func() error {
		res, err := prom.Query(`sum by (instance, app) (bwmon_app_bytes_total)`, time.Time{})
		if err != nil {
			return err
		}
		got, want := map[string]float64{}, map[string]uint64{}
		for _, s := range res {
			got[s.Metric["instance"]+" "+s.Metric["app"]] = s.Last()
		}
		for app, hs := range perHost {
			for h, n := range hs {
				want[h+" "+app] = n
			}
		}
		return checkNear("bytes per host and app", got, want)
	})

	t.Run("bytes per app over the fleet", func(t *testing.T) {
		got, err := promValues(prom, `sum by (app) (bwmon_app_bytes_total)`, "app")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkNear("sum by (app)", got, perApp); err != nil {
			t.Error(err)
		}
		for app, want := range perApp {
			t.Logf("fleet %s: %.0f / %d = %.4f", app, got[app], want, got[app]/float64(want))
		}
	})

	t.Run("top apps across hosts", func(t *testing.T) {
		res, err := prom.Query(`sort_desc(topk(3, sum by (app) (bwmon_app_bytes_total)))`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res {
			got = append(got, s.Metric["app"])
		}
		want := make([]string, 0, len(perApp))
		for app := range perApp {
			want = append(want, app)
		}
		slices.SortFunc(want, func(a, b string) int { return cmp.Compare(perApp[b], perApp[a]) })
		// web is the top app of no host but second over the fleet.
		if want = want[:3]; !slices.Equal(got, want) || want[1] != webApp {
			t.Errorf("top 3 apps over the fleet: %v, want %v (web second: %s)", got, want, webApp)
		}
	})

	t.Run("one app's bytes per host", func(t *testing.T) {
		got, err := promValues(prom, fmt.Sprintf(`sum by (instance) (bwmon_app_bytes_total{app=%q})`, webApp), "instance")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkNear(webApp+" by instance", got, perHost[webApp]); err != nil {
			t.Error(err)
		}
	})

	t.Run("unattributed share per host", func(t *testing.T) {
		got, err := promValues(prom, `sum by (instance) (bwmon_unattributed_bytes_total)
			/ (sum by (instance) (bwmon_unattributed_bytes_total) + sum by (instance) (bwmon_app_bytes_total))`, "instance")
		if err != nil {
			t.Fatal(err)
		}
		want := float64(strayRef) / float64(strayRef+perInstance["host2"])
		if !near(got["host2"], want, 0.02) {
			t.Errorf("host2's unattributed share %.5f, want %.5f (±2%%): %d of %d bytes to a closed port", got["host2"], want, strayRef, strayRef+perInstance["host2"])
		}
		for _, h := range []string{"host1", "host3"} {
			if g, ok := got[h]; !ok || g > 0.002 {
				t.Errorf("%s's unattributed share %.5f (listed %v), want about 0", h, g, ok)
			}
		}
		t.Logf("unattributed share: %v; host2 want %.5f", got, want)
	})

	t.Run("forwarded by the gateway", func(t *testing.T) {
		got, err := promValues(prom, `sum by (instance) (bwmon_forwarded_bytes_total)`, "instance")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkNear("forwarded bytes", got, map[string]uint64{"host1": 0, "host2": 0, "host3": fwdRef}); err != nil {
			t.Error(err)
		}
		pairs, err := promValues(prom, `bwmon_forwarded_pairs`, "instance")
		if err != nil {
			t.Fatal(err)
		}
		if pairs["host3"] != 1 || pairs["host1"] != 0 {
			t.Errorf("forwarded pairs %v, want 1 on host3 only", pairs)
		}
	})

	t.Run("grafana dashboard", func(t *testing.T) {
		checkDashboard(t, prom, began)
	})

	t.Run("SLA alert resolves", func(t *testing.T) {
		waitAlert(t, prom, 30*time.Second, false, "BwmonAppBandwidthHigh", map[string]string{"app": bulkApp})
	})

	t.Run("an agent killed and restarted", func(t *testing.T) {
		fleetRestart(t, prom, host2, db, dbApp)
	})

	t.Run("rules evaluate", func(t *testing.T) {
		health, err := prom.RuleHealth()
		if err != nil {
			t.Fatal(err)
		}
		if len(health) != nRules {
			t.Errorf("prometheus loaded %d rules, the file has %d: %v", len(health), nRules, health)
		}
		for name, h := range health {
			if h != "ok" {
				t.Errorf("rule %s: %s", name, h)
			}
		}
	})

	// What this fleet costs its Prometheus (docs/fleet.md).
	series, err1 := prom.OwnMetric("prometheus_tsdb_head_series")
	rss, err2 := prom.RSS()
	scraped, err3 := promValues(prom, `sum(scrape_samples_scraped)`, "")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	perAgent, err1 := promValues(prom, `scrape_samples_scraped`, "instance")
	runtime, err2 := promValues(prom, `count by (instance) ({__name__=~"go_.*|process_.*"})`, "instance")
	apps, err3 := promValues(prom, `count by (instance) (bwmon_app_processes)`, "instance")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	t.Logf("prometheus with 3 agents: %.0f head series, %.0f samples a scrape round, RSS %.1f MiB; test took %s",
		series, scraped[""], float64(rss)/(1<<20), time.Since(began).Round(time.Second))
	t.Logf("samples a scrape per agent %v, of them go_*/process_* %v, apps listed %v", perAgent, runtime, apps)
}
