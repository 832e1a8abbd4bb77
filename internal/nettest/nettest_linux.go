package nettest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/internal/nftct"
)

// RequireRoot skips tb unless it runs as root; in CI, which runs as root,
// it fails tb instead (see Missing).
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "needs root: creates network namespaces and reads conntrack (run the tests as root)")
	}
}

// RepoRoot returns the repository's top directory.
func RepoRoot(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the source tree")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "../.."))
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// Build compiles the command in pkg (e.g. "./cmd/bwmon") once per test
// binary and returns the path of the executable.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "bwmon-test-bin-")
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot(tb)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// Generator returns a copy of cmd/bwgen named NAME-RANDOM in a temporary
// directory: a process with an executable name no other process has, so
// bwmon's app of that name holds its bytes alone.
func Generator(tb testing.TB, name string) (path, app string) {
	tb.Helper()
	src := Build(tb, "./cmd/bwgen")
	app = fmt.Sprintf("%s-%06d", name, rand.IntN(1_000_000))
	path = filepath.Join(tb.TempDir(), app)
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		tb.Fatal(err)
	}
	return path, app
}

// Pair is two network namespaces joined by a veth link: Watched, where
// bwmon looks and generators run, and Peer, where servers answer.
type Pair struct {
	Watched, Peer       string
	WatchedIP4, PeerIP4 netip.Addr
	WatchedIP6, PeerIP6 netip.Addr
}

var nsSeq struct {
	sync.Mutex
	n int
}

func nextName() string {
	nsSeq.Lock()
	defer nsSeq.Unlock()
	nsSeq.n++
	return fmt.Sprintf("bwt%d%d", os.Getpid()%100000, nsSeq.n)
}

// NewNetNS creates an empty network namespace with loopback up, deleted at
// cleanup.
func NewNetNS(tb testing.TB) string {
	tb.Helper()
	name := nextName()
	MustIP(tb, "netns", "add", name)
	tb.Cleanup(func() { _ = ip("netns", "del", name) })
	MustIP(tb, "-n", name, "link", "set", "lo", "up")
	return name
}

// NewPair creates the two namespaces and the link, with 10.77.0.1/24 and
// fd77::1/64 on the watched side, .2 and ::2 on the peer.
func NewPair(tb testing.TB) *Pair {
	tb.Helper()
	RequireRoot(tb)
	p := &Pair{
		Watched: NewNetNS(tb), Peer: NewNetNS(tb),
		WatchedIP4: netip.MustParseAddr("10.77.0.1"), PeerIP4: netip.MustParseAddr("10.77.0.2"),
		WatchedIP6: netip.MustParseAddr("fd77::1"), PeerIP6: netip.MustParseAddr("fd77::2"),
	}
	va, vb := p.Watched+"a", p.Peer+"b"
	MustIP(tb, "link", "add", va, "netns", p.Watched, "type", "veth", "peer", "name", vb, "netns", p.Peer)
	for _, s := range []struct {
		ns, dev string
		v4, v6  netip.Addr
	}{{p.Watched, va, p.WatchedIP4, p.WatchedIP6}, {p.Peer, vb, p.PeerIP4, p.PeerIP6}} {
		MustIP(tb, "-n", s.ns, "addr", "add", s.v4.String()+"/24", "dev", s.dev)
		MustIP(tb, "-n", s.ns, "-6", "addr", "add", s.v6.String()+"/64", "dev", s.dev, "nodad")
		MustIP(tb, "-n", s.ns, "link", "set", s.dev, "up")
	}
	return p
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// MustIP runs the ip command or fails tb.
func MustIP(tb testing.TB, args ...string) {
	tb.Helper()
	if err := ip(args...); err != nil {
		tb.Fatal(err)
	}
}

// Start runs path with args inside namespace ns and kills it, by its PID,
// at cleanup. Its stderr goes to the test log.
func Start(tb testing.TB, ns, path string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, path}, args...)...)
	cmd.Stderr = testWriter{tb}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s in %s: %v", path, ns, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd
}

// RunOK runs path with args inside ns to completion (at most timeout) and
// fails tb if it does not exit 0.
func RunOK(tb testing.TB, timeout time.Duration, ns, path string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, path}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %s in %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), ns, err, out)
	}
}

// StartServer starts a bwgen server mode (tcp-sink, tcp-serve, udp-sink) in
// ns and waits until it listens.
func StartServer(tb testing.TB, ns, path string, args ...string) {
	tb.Helper()
	ready := filepath.Join(tb.TempDir(), "ready")
	Start(tb, ns, path, append([]string{"-ready", ready}, args...)...)
	Eventually(tb, 10*time.Second, func() error {
		if _, err := os.Stat(ready); err != nil {
			return fmt.Errorf("%s %v not listening yet", filepath.Base(path), args)
		}
		return nil
	})
}

// Eventually polls f every 50 ms until it returns nil, failing tb with f's
// last error after timeout.
func Eventually(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NetNSFD opens namespace ns; the handle is closed at cleanup.
func NetNSFD(tb testing.TB, ns string) int {
	tb.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		tb.Fatalf("opening netns %s: %v", ns, err)
	}
	tb.Cleanup(func() { h.Close() })
	return int(h)
}

// EngageConntrack makes the kernel track and count connections in ns, so
// its table can serve as a reference: accounting on, and a table with a ct
// rule.
func EngageConntrack(tb testing.TB, ns string) {
	tb.Helper()
	MustExec(tb, "ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct")
	if err := nftct.Engage(NetNSFD(tb, ns), "bwmontest"); err != nil {
		tb.Fatalf("engaging conntrack in %s: %v", ns, err)
	}
}

// MustExec runs a command on the host or fails tb.
func MustExec(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// ConntrackBytes sums the byte counters of the flows in ns's conntrack
// table that match keeps: the IP-layer reference for what bwmon should
// report.
func ConntrackBytes(tb testing.TB, ns string, keep func(f conntrack.Flow) bool) (orig, reply uint64) {
	tb.Helper()
	c, err := conntrack.Dial(&netlink.Config{NetNS: NetNSFD(tb, ns)})
	if err != nil {
		tb.Fatalf("dialing conntrack in %s: %v", ns, err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		tb.Fatalf("dumping conntrack in %s: %v", ns, err)
	}
	for _, f := range flows {
		if keep(f) {
			orig += f.CountersOrig.Bytes
			reply += f.CountersReply.Bytes
		}
	}
	return orig, reply
}

// ToPort keeps flows whose original destination port is port.
func ToPort(proto uint8, port uint16) func(conntrack.Flow) bool {
	return func(f conntrack.Flow) bool {
		return f.TupleOrig.Proto.Protocol == proto && f.TupleOrig.Proto.DestinationPort == port
	}
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// Shape limits both ends of the pair's link to rate (tc syntax, e.g.
// "1gbit", the speed of a common server NIC; a veth is otherwise a wire
// with no speed limit). It is undone at cleanup.
func (p *Pair) Shape(tb testing.TB, rate string) {
	tb.Helper()
	for _, e := range []struct{ ns, dev string }{{p.Watched, p.Watched + "a"}, {p.Peer, p.Peer + "b"}} {
		MustExec(tb, "tc", "-n", e.ns, "qdisc", "add", "dev", e.dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms")
		tb.Cleanup(func() { _ = exec.Command("tc", "-n", e.ns, "qdisc", "del", "dev", e.dev, "root").Run() })
	}
}
