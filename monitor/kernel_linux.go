package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// nftTable is the name of the table bwmon adds where nothing engages
// conntrack.
const nftTable = "bwmon"

// kernelSetup is what bwmon changed in the kernel, to be undone on exit.
type kernelSetup struct {
	ns        *netNS
	log       *slog.Logger
	acctWas   string // nf_conntrack_acct before bwmon set it; "" if untouched
	addedNft  bool
}

// ErrNoConntrack means the kernel has no connection tracking.
var ErrNoConntrack = errors.New("the kernel has no netfilter conntrack: load it with `modprobe nf_conntrack` (kernel option CONFIG_NF_CONNTRACK, with CONFIG_NF_CONNTRACK_EVENTS and CONFIG_NF_CT_NETLINK)")

// checkKernel reports, in one sentence a user can act on, what keeps bwmon
// from reading conntrack here.
func checkKernel(ns *netNS) error {
	if os.Geteuid() != 0 {
		return errors.New("bwmon needs root to read conntrack and every process's sockets: run it with sudo, or as a service with CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH")
	}
	if _, err := ns.readSysctl("net.netfilter.nf_conntrack_acct"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoConntrack
		}
		return fmt.Errorf("reading net.netfilter.nf_conntrack_acct: %w", err)
	}
	return nil
}

// setupKernel makes the kernel count bytes per flow: accounting on, and
// conntrack engaged by a table of bwmon's own where no rule engages it.
func setupKernel(ns *netNS, log *slog.Logger) (*kernelSetup, error) {
	k := &kernelSetup{ns: ns, log: log}
	v, err := ns.readSysctl("net.netfilter.nf_conntrack_acct")
	if err != nil {
		return nil, fmt.Errorf("reading net.netfilter.nf_conntrack_acct: %w", err)
	}
	if v != "1" {
		if err := ns.writeSysctl("net.netfilter.nf_conntrack_acct", "1"); err != nil {
			return nil, fmt.Errorf("enabling conntrack accounting (sysctl -w net.netfilter.nf_conntrack_acct=1): %w", err)
		}
		k.acctWas = v
		log.Info("enabled conntrack accounting", "sysctl", "net.netfilter.nf_conntrack_acct=1", "netns", ns.name)
	}
	engaged, err := conntrackEngaged(ns)
	if err != nil {
		log.Warn("could not tell whether conntrack is engaged; adding bwmon's table", "err", err)
	}
	if !engaged {
		if err := addNftTable(ns); err != nil {
			k.undo()
			return nil, fmt.Errorf("adding nftables table %q to engage conntrack (or engage it yourself and set [conntrack] manage = false): %w", nftTable, err)
		}
		k.addedNft = true
		log.Info("added nftables table to engage conntrack", "table", "inet "+nftTable, "netns", ns.name)
	}
	return k, nil
}

// undo reverts what setupKernel changed. It is safe to call more than once.
func (k *kernelSetup) undo() {
	if k.addedNft {
		if c, err := nftables.New(nftables.WithNetNSFd(k.ns.fd())); err == nil {
			c.DelTable(&nftables.Table{Name: nftTable, Family: nftables.TableFamilyINet})
			if err := c.Flush(); err != nil {
				k.log.Warn("removing nftables table", "table", nftTable, "err", err)
			}
		}
		k.addedNft = false
	}
	if k.acctWas != "" {
		if err := k.ns.writeSysctl("net.netfilter.nf_conntrack_acct", k.acctWas); err != nil {
			k.log.Warn("restoring net.netfilter.nf_conntrack_acct", "err", err)
		}
		k.acctWas = ""
	}
}

// conntrackEngaged reports whether a rule in the namespace already makes
// the kernel track connections: an nftables rule using ct, nat or masquerade
// (Docker, Kubernetes and firewalls have them), or a legacy iptables nat
// table. A leftover table of bwmon's own does not count.
func conntrackEngaged(ns *netNS) (bool, error) {
	var legacy bool
	_ = ns.do(func() error {
		b, err := os.ReadFile("/proc/self/net/ip_tables_names")
		if err == nil && strings.Contains(string(b), "nat") {
			legacy = true
		}
		return nil
	})
	if legacy {
		return true, nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd()))
	if err != nil {
		return false, err
	}
	chains, err := c.ListChains()
	if err != nil {
		return false, err
	}
	for _, ch := range chains {
		if ch.Table.Name == nftTable && ch.Table.Family == nftables.TableFamilyINet {
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

// addNftTable adds `table inet bwmon { chain output { type filter hook output
// priority 0; ct state new,established,related counter } }`: a ct
// expression is what makes the kernel track the namespace's connections.
func addNftTable(ns *netNS) error {
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd()))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyINet}
	c.DelTable(t) // a leftover of a run that was killed
	_ = c.Flush()
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	for _, hook := range []*nftables.ChainHook{nftables.ChainHookOutput, nftables.ChainHookInput} {
		name := "output"
		if hook == nftables.ChainHookInput {
			name = "input"
		}
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
