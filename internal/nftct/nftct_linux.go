// Package nftct engages netfilter conntrack in a network namespace with a
// minimal nftables table, and tells whether a rule there already does. The
// kernel tracks connections in a namespace only once a rule needs it.
// It speaks nftables over netlink (github.com/google/nftables); no nft
// binary is needed. It needs CAP_NET_ADMIN.
package nftct

import (
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Table is the name of the inet table Engage adds.
const Table = "bwmon"

// Engage adds `table inet bwmon` with input and output chains holding one
// rule, `ct state new,established,related counter`: a ct expression is what
// makes the kernel track the namespace's connections. A leftover table of
// the same name is replaced. netnsFD 0 means the caller's namespace.
func Engage(netnsFD int) error { return EngageAs(netnsFD, Table) }

// EngageAs is Engage with a table of another name: one that bwmon counts
// as somebody else's rule (tests and benchmarks use it, so that an agent
// exiting does not disengage conntrack under them).
func EngageAs(netnsFD int, name string) error {
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

// Remove deletes the table Engage added.
func Remove(netnsFD int) error {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return err
	}
	c.DelTable(&nftables.Table{Name: Table, Family: nftables.TableFamilyINet})
	return c.Flush()
}

// Exists reports whether the table Engage adds is there.
func Exists(netnsFD int) (bool, error) {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFD))
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.Name == Table {
			return true, nil
		}
	}
	return false, nil
}

// Engaged reports whether an nftables rule in the namespace other than
// Engage's uses ct, nat or masquerade (Docker, Kubernetes and firewalls
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
		if ch.Table.Name == Table && ch.Table.Family == nftables.TableFamilyINet {
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
