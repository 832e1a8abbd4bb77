package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/state"
)

// TestClassesEndToEnd: a generator in a namespace behind a router sends
// known bytes to a peer in a range the configuration calls "lab" and to
// another in a range no class names ("internet"), both past the router.
// The app's split by class matches each peer's conntrack reference within
// 1%; a [[notify]] rule on the app's internet egress fires; and `bwmon
// report -by class` says which app spent it.
func TestClassesEndToEnd(t *testing.T) {
	r := nettest.NewRouted(t)
	internet := netip.MustParseAddr("198.18.0.7") // the benchmarking range: "internet" here
	r.AddRemote(t, internet)
	nettest.EngageConntrack(t, r.Outside) // the reference counters
	srv, _ := nettest.Generator(t, "clsink")
	labAddr, netAddr := fmt.Sprintf("%s:5501", r.OutsideIP), fmt.Sprintf("%s:5502", internet)
	nettest.StartServer(t, r.Outside, srv, "tcp-sink", labAddr)
	nettest.StartServer(t, r.Outside, srv, "tcp-serve", fmt.Sprintf("%s:5503", internet), strconv.Itoa(4<<20))
	nettest.StartServer(t, r.Outside, srv, "tcp-sink", netAddr)
	gen, app := nettest.Generator(t, "clgen")

	stateDir := t.TempDir()
	a := startAgent(t, fmt.Sprintf(`
[[class]]
name = "lab"
cidr = ["10.78.2.0/24"]

[[monitor]]
type = "conntrack"
netns = %q

[[notify]]
app = "^%s$"
class = "internet"
out_threshold = "1MB/s"
window = 1

[state]
dir = %q
flush = "1s"
`, r.Inside, app, stateDir))

	const labN, netN = 24 << 20, 8 << 20
	nettest.RunOK(t, 60*time.Second, r.Inside, gen, "-linger", "2s", "tcp-send", labAddr, strconv.Itoa(labN))
	nettest.RunOK(t, 60*time.Second, r.Inside, gen, "-linger", "2s", "-rate", strconv.Itoa(4<<20), "tcp-send", netAddr, strconv.Itoa(netN))
	nettest.RunOK(t, 60*time.Second, r.Inside, gen, "-linger", "2s", "tcp-recv", fmt.Sprintf("%s:5503", internet), strconv.Itoa(4<<20))
	ref := func(ports ...uint16) (orig, reply uint64) {
		return nettest.ConntrackBytes(t, r.Outside, func(f conntrack.Flow) bool {
			for _, p := range ports {
				if f.TupleOrig.Proto.Protocol == protoTCP && f.TupleOrig.Proto.DestinationPort == p {
					return true
				}
			}
			return false
		})
	}
	labOut, labIn := ref(5501)
	netOut, netIn := ref(5502, 5503)
	nettest.Eventually(t, 15*time.Second, func() error {
		got, ok := a.app(app)
		if !ok {
			return fmt.Errorf("no app %s yet", app)
		}
		lab, inet := got.Classes["lab"], got.Classes["internet"]
		if !within(lab.BytesOut, labOut, 0.01) || !within(lab.BytesIn, labIn, 0.01) ||
			!within(inet.BytesOut, netOut, 0.01) || !within(inet.BytesIn, netIn, 0.01) {
			b, _ := json.Marshal(got.Classes)
			return fmt.Errorf("app %s by class %s; want lab out %d in %d, internet out %d in %d (the peers' conntrack, ±1%%)",
				app, b, labOut, labIn, netOut, netIn)
		}
		if len(got.Classes) != 2 {
			return fmt.Errorf("app %s has classes %v, want lab and internet only", app, got.Classes)
		}
		return nil
	})
	got, _ := a.app(app)
	t.Logf("app %s by class: lab out %d / %d = %.5f, in %d / %d = %.5f; internet out %d / %d = %.5f, in %d / %d = %.5f",
		app, got.Classes["lab"].BytesOut, labOut, ratio(got.Classes["lab"].BytesOut, labOut),
		got.Classes["lab"].BytesIn, labIn, ratio(got.Classes["lab"].BytesIn, labIn),
		got.Classes["internet"].BytesOut, netOut, ratio(got.Classes["internet"].BytesOut, netOut),
		got.Classes["internet"].BytesIn, netIn, ratio(got.Classes["internet"].BytesIn, netIn))

	// The rule on the internet egress fired, and said so.
	want := app + " exceeding 'out internet' bandwidth limit"
	nettest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(a.logs.String(), want) {
			return fmt.Errorf("no alert %q in the agent's output:\n%s", want, a.logs.String())
		}
		return nil
	})

	// The report, from the state the agent leaves, groups by class.
	a.stop(t)
	var out, errOut bytes.Buffer
	if code := reportCommand([]string{"-state-dir", stateDir, "-json", "-by", "class", "-since", "1d"}, &out, &errOut, time.Now(), time.Local); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut.String())
	}
	var u state.Usage
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	found := map[string]state.ClassBytes{}
	for _, c := range u.Total.Classes {
		if c.App == app {
			found[c.Class] = c
		}
	}
	if !within(found["internet"].BytesOut, netOut, 0.01) || !within(found["lab"].BytesOut, labOut, 0.01) {
		t.Fatalf("report's total by class for %s: %+v; want internet out %d, lab out %d (±1%%)", app, found, netOut, labOut)
	}
	out.Reset()
	if code := reportCommand([]string{"-state-dir", stateDir, "-by", "class", "-since", "1d"}, &out, &errOut, time.Now(), time.Local); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "internet") || !strings.Contains(out.String(), "  "+app) {
		t.Fatalf("report -by class:\n%s", out.String())
	}
	t.Logf("bwmon report -by class:\n%s", out.String())
}

// TestClassesIPv6: IPv6 and IPv4 side by side on one link: a [[class]] of
// an IPv6 prefix takes the IPv6 transfer, the built-in "private" the IPv4
// one (RFC 1918), each within 1% of the peer's conntrack.
func TestClassesIPv6(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	srv, _ := nettest.Generator(t, "cl6sink")
	v6, v4 := fmt.Sprintf("[%s]:5511", p.PeerIP6), fmt.Sprintf("%s:5512", p.PeerIP4)
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", v6)
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", v4)
	gen, app := nettest.Generator(t, "cl6gen")
	a := startAgent(t, fmt.Sprintf("[[class]]\nname = \"lab6\"\ncidr = [\"fd77::/64\"]\n\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched))
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", v6, strconv.Itoa(8<<20))
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", v4, strconv.Itoa(4<<20))
	out6, in6 := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5511))
	out4, in4 := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5512))
	nettest.Eventually(t, 15*time.Second, func() error {
		got, _ := a.app(app)
		l, pr := got.Classes["lab6"], got.Classes["private"]
		if !within(l.BytesOut, out6, 0.01) || !within(l.BytesIn, in6, 0.01) || !within(pr.BytesOut, out4, 0.01) || !within(pr.BytesIn, in4, 0.01) || len(got.Classes) != 2 {
			b, _ := json.Marshal(got.Classes)
			return fmt.Errorf("app %s by class %s; want lab6 out %d in %d, private out %d in %d (±1%%)", app, b, out6, in6, out4, in4)
		}
		return nil
	})
	got, _ := a.app(app)
	t.Logf("IPv6 lab6 out %d / %d = %.5f; IPv4 private out %d / %d = %.5f",
		got.Classes["lab6"].BytesOut, out6, ratio(got.Classes["lab6"].BytesOut, out6), got.Classes["private"].BytesOut, out4, ratio(got.Classes["private"].BytesOut, out4))
}
