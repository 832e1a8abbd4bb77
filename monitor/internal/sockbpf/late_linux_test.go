package sockbpf

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestLate: clients that close before their server (tcp-churn against a
// sink that closes 200 ms after them) leave sockets marked Late, whose
// final counters miss exactly their flow's last packet each way (the
// server's FIN in, the ACK out, through the time-wait socket); clients
// that wait for the server's FIN (tcp-send) leave none, and their counters
// are their flows', to the byte. conntrack in the peer is the reference.
func TestLate(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	gen, _ := nettest.Generator(t, "late")
	const conns = 100
	c := openCounter(t, Options{})
	for _, tt := range []struct {
		name string
		port int
		args []string
		late bool
	}{
		{"closes first", 5640, []string{"-conns", strconv.Itoa(conns), "-parallel", "4", "tcp-churn"}, true},
		{"waits for the server", 5641, []string{"-conns", strconv.Itoa(conns), "-parallel", "10", "tcp-send"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := netip.AddrPortFrom(p.PeerIP4, uint16(tt.port))
			nettest.StartServer(t, p.Peer, gen, "-linger", "200ms", "tcp-sink", server.String())
			cmd := exec.Command("ip", append([]string{"netns", "exec", p.Watched, gen}, append(tt.args, server.String(), "1000")...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("bwgen: %v: %s", err, out)
			}
			type counts struct{ in, out, pin, pout uint64 }
			socks, late := map[netip.AddrPort]counts{}, 0
			nettest.Eventually(t, 10*time.Second, func() error {
				err := c.Read(func(s *Socket) {
					if s.Closed && s.Proto == unix.IPPROTO_TCP && s.Remote == server {
						socks[s.Local] = counts{s.BytesIn, s.BytesOut, s.PacketsIn, s.PacketsOut}
						if s.Late {
							late++
						}
					}
				})
				if err != nil {
					return err
				}
				if len(socks) < conns {
					return fmt.Errorf("%d of %d sockets closed", len(socks), conns)
				}
				return nil
			})
			if want := map[bool]int{true: conns, false: 0}[tt.late]; late != want {
				t.Errorf("%d of %d sockets late, want %d", late, conns, want)
			}
			time.Sleep(500 * time.Millisecond) // the servers' FINs, and their ACKs
			ct, err := conntrack.Dial(&netlink.Config{NetNS: nettest.NetNSFD(t, p.Peer)})
			if err != nil {
				t.Fatal(err)
			}
			defer ct.Close()
			flows, err := ct.Dump(nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range flows {
				o := f.TupleOrig
				if o.Proto.Protocol != unix.IPPROTO_TCP || o.Proto.DestinationPort != uint16(tt.port) {
					continue
				}
				n++
				s, ok := socks[netip.AddrPortFrom(o.IP.SourceAddress, o.Proto.SourcePort)]
				if !ok {
					t.Errorf("flow %v: no socket", o)
					continue
				}
				beyond := 0 // packets conntrack counted beyond the socket, each way
				if tt.late {
					beyond = 1
				}
				if f.CountersOrig.Packets != s.pout+uint64(beyond) || f.CountersReply.Packets != s.pin+uint64(beyond) {
					t.Errorf("flow %v: conntrack %d/%d packets out/in, the socket %d/%d; want %d more each way",
						o, f.CountersOrig.Packets, f.CountersReply.Packets, s.pout, s.pin, beyond)
				}
				if !tt.late && (f.CountersOrig.Bytes != s.out || f.CountersReply.Bytes != s.in) {
					t.Errorf("flow %v: conntrack %d/%d bytes out/in, the socket %d/%d", o, f.CountersOrig.Bytes, f.CountersReply.Bytes, s.out, s.in)
				}
			}
			if n != conns {
				t.Errorf("%d flows in the peer's conntrack, want %d", n, conns)
			}
		})
	}
}
