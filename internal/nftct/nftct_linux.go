// Package nftct engages netfilter conntrack in a network namespace with a
// minimal nftables table, and tells whether a rule there already does. The
// kernel tracks connections in a namespace only once a rule needs it.
// It speaks nftables over netlink (github.com/google/nftables); no nft
// binary is needed. It needs CAP_NET_ADMIN.
package nftct

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Table is the prefix of the names of the inet tables Engage adds: each
// agent's monitor adds a table of its own, named bwmon-PID-N, so that an
// agent exiting (a `bwmon` run by hand beside the service, or a monitor
// replaced on reload) never removes the table another one relies on.
const Table = "bwmon"

var seq atomic.Uint64

// NewName returns the name of a new table of this process: bwmon-PID-N.
func NewName() string {
	return fmt.Sprintf("%s-%d-%d", Table, os.Getpid(), seq.Add(1))
}

// ownerPID returns the PID in the name of a table of bwmon's, and whether
// the name is one: bwmon-PID-N, or the single table bwmon of versions
// before (PID 0: its agent cannot be told).
func ownerPID(name string) (int, bool) {
	if name == Table {
		return 0, true
	}
	rest, ok := strings.CutPrefix(name, Table+"-")
	if !ok {
		return 0, false
	}
	pid, n, ok := strings.Cut(rest, "-")
	p, err := strconv.Atoi(pid)
	if !ok || err != nil || p <= 0 {
		return 0, false
	}
	if _, err := strconv.ParseUint(n, 10, 64); err != nil {
		return 0, false
	}
	return p, true
}

// Engage adds the table name (see NewName) with input and output chains
// holding one rule, `ct state new,established,related counter`: a ct
// expression is what makes the kernel track the namespace's connections.
// A leftover table of the same name is replaced. netnsFD 0 means the
// caller's namespace. Tests and benchmarks pass a name that is not
// bwmon's (bwmontest, bwbench): a rule of somebody else's, which an agent
// exiting leaves alone.
func Engage(netnsFD int, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	c.DelTable(t)
	_ = c.Flush() // fails when there is no leftover: fine
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	for name, hook := range map[string]*nftables.ChainHook{"output": nftables.ChainHookOutput, "input": nftables.ChainHookInput} {
		ch := c.AddChain(&nftables.Chain{
			Name: name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &policy,
		})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW | expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Counter{},
		}})
	}
	return c.Flush()
}

// Remove deletes the table name.
func Remove(netnsFD int, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return err
	}
	c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	return c.Flush()
}

// Tables returns the names of the namespace's tables of bwmon's.
func Tables(netnsFD int) ([]string, error) {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range tables {
		if _, ok := ownerPID(t.Name); ok {
			names = append(names, t.Name)
		}
	}
	return names, nil
}

// RemoveStale deletes the tables of bwmon's whose agent is gone (killed
// before it could remove its own; alive tells by PID) and returns their
// names.
func RemoveStale(netnsFD int, alive func(pid int) bool) ([]string, error) {
	names, err := Tables(netnsFD)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, n := range names {
		if pid, _ := ownerPID(n); pid != 0 && alive(pid) {
			continue
		}
		if err := Remove(netnsFD, n); err != nil {
			return gone, err
		}
		gone = append(gone, n)
	}
	return gone, nil
}

// Engaged reports whether an nftables rule in the namespace, other than
// those of bwmon's tables (another agent's may go any time), uses ct, nat
// or masquerade (Docker, Kubernetes and firewalls
// have such rules), so conntrack already runs there. legacyNames is the
// content of the namespace's /proc/net/ip_tables_names ("" if absent): a
// legacy iptables nat table engages conntrack too.
func Engaged(netnsFD int, legacyNames string) (bool, error) {
	if strings.Contains(legacyNames, "nat") {
		return true, nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return false, err
	}
	chains, err := c.ListChains()
	if err != nil {
		return false, err
	}
	for _, ch := range chains {
		if _, ours := ownerPID(ch.Table.Name); ours && ch.Table.Family == nftables.TableFamilyINet {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				switch e.(type) {
				case *expr.Ct, *expr.NAT, *expr.Masq:
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// ReadLegacyNames returns /proc/self/net/ip_tables_names as read by the
// calling thread ("" when legacy iptables is not loaded).
func ReadLegacyNames() string {
	b, _ := os.ReadFile("/proc/self/net/ip_tables_names")
	return string(b)
}

// Chain names of the tables Quiet adds; a table of bwmon's holding them
// silences conntrack's events (QuietAgents).
const (
	quietOutput = "quiet-output"
	quietInput  = "quiet-input"
)

// Quiet adds to the table name (see NewName; made if missing, such as the
// one Engage added) the chains that silence conntrack's events for the
// flows of local processes' TCP and UDP sockets, which an agent counting
// at the socket (eBPF) counts itself: a new flow whose first packet
// leaves through a socket a process holds (output hook, `meta skuid` finds
// the socket's file: kernel sockets such as WireGuard's or NFS's have
// none), and a new TCP flow arriving for a local socket (input hook,
// `socket transparent` finds it). Their rules set the flow's event mask to
// none (`ct event set 0`) before conntrack confirms it, so neither its NEW
// nor its DESTROY event is sent, to any listener. Forwarded flows, flows
// with no socket (the kernel answering) and inbound UDP keep their
// events. Leftover chains of that name are replaced. netnsFD 0 means the
// caller's namespace.
func Quiet(netnsFD int, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	for _, ch := range []string{quietOutput, quietInput} {
		c.DelChain(&nftables.Chain{Name: ch, Table: t})
		_ = c.Flush() // fails when there is no leftover: fine
	}
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{Name: quietOutput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	in := c.AddChain(&nftables.Chain{Name: quietInput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		// A process's socket: loading its owner's uid fails (ends the
		// rule) for a packet with no socket or a kernel socket.
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: quietRule(proto, &expr.Meta{Key: expr.MetaKeySKUID, Register: 2})})
	}
	// A local socket for the new flow's first packet: the lookup fails
	// (ends the rule) when there is none.
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: quietRule(unix.IPPROTO_TCP, &expr.Socket{Key: expr.SocketKeyTransparent, Register: 2})})
	return c.Flush()
}

// Unquiet removes the chains Quiet added to the table name: conntrack
// announces every flow again.
func Unquiet(netnsFD int, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	c.DelChain(&nftables.Chain{Name: quietOutput, Table: t})
	c.DelChain(&nftables.Chain{Name: quietInput, Table: t})
	return c.Flush()
}

// quietRule is `ct state new meta l4proto proto <socket> ct event set 0`.
func quietRule(proto byte, socket expr.Any) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		socket,
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Ct{Register: 1, SourceRegister: true, Key: expr.CtKeyEVENTMASK},
		&expr.Counter{},
	}
}

// QuietAgents returns the PIDs of the bwmon agents whose Quiet table is in
// the namespace (other than those of process self), alive says by PID.
func QuietAgents(netnsFD, self int, alive func(pid int) bool) ([]int, error) {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, ch := range chains {
		pid, ours := ownerPID(ch.Table.Name)
		if ours && ch.Name == quietOutput && pid != self && (pid == 0 || alive(pid)) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
