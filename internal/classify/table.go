package classify

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/bwmon/bwmon/model"
)

// builtin are the built-in rules, tried after the configuration's: the
// class names and their prefixes. Addresses in none of them are Internet.
var builtin = []struct {
	name     string
	prefixes []string
}{
	{Local, []string{"127.0.0.0/8", "::1/128"}},
	{Private, []string{
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10",  // shared address space (carrier-grade NAT, RFC 6598)
		"169.254.0.0/16", // IPv4 link-local
		"fc00::/7",       // unique local addresses (RFC 4193)
		"fe80::/10",      // IPv6 link-local
	}},
}

// Table is a built classification: read-only, safe for concurrent use.
type Table struct {
	names []string // by class index; names[0] is ClassNone's ""
	v4    []span4
	v6    []span6
}

// span4 is a range of IPv4 addresses from start to the next span's start,
// all of one class; the first span starts at 0.
type span4 struct {
	start uint32
	class model.Class
}

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

type span6 struct {
	start u128
	class model.Class
}

// New builds the table of c's rules and the built-in ones. It validates c
// first.
func New(c Config) (*Table, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t := &Table{names: []string{""}}
	index := func(name string) model.Class {
		if i := slices.Index(t.names, name); i > 0 {
			return model.Class(i)
		}
		t.names = append(t.names, name)
		return model.Class(len(t.names) - 1)
	}
	var rules []rule
	for _, r := range c.Rules {
		cl := index(r.Name)
		for _, s := range r.CIDR {
			p, _ := ParsePrefix(s) // Validate read it
			rules = append(rules, rule{p, cl})
		}
	}
	for _, b := range builtin {
		cl := index(b.name)
		for _, s := range b.prefixes {
			rules = append(rules, rule{netip.MustParsePrefix(s), cl})
		}
	}
	internet := index(Internet)
	t.v4 = build4(rules, internet)
	t.v6 = build6(rules, internet)
	return t, nil
}

// Default is the table of the built-in classes alone.
func Default() *Table {
	t, _ := New(Config{})
	return t
}

type rule struct {
	p     netip.Prefix
	class model.Class
}

// Names returns the class names by index: Names()[0] is ClassNone's "",
// then the configuration's classes in order, then those of the built-in
// ones the configuration did not name. The slice is shared: do not change
// it.
func (t *Table) Names() []string { return t.names }

// Lookup returns the class of the remote address a; an IPv4-mapped IPv6
// address is classified as the IPv4 one. The zero Addr is ClassNone.
func (t *Table) Lookup(a netip.Addr) model.Class {
	switch {
	case a.Is4() || a.Is4In6():
		v := v4num(a.Unmap())
		i := sort.Search(len(t.v4), func(i int) bool { return t.v4[i].start > v })
		return t.v4[i-1].class
	case a.Is6():
		v := v6num(a)
		i := sort.Search(len(t.v6), func(i int) bool { return v.less(t.v6[i].start) })
		return t.v6[i-1].class
	}
	return model.ClassNone
}

func v4num(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func v6num(a netip.Addr) u128 {
	b := a.As16()
	var v u128
	for i := 0; i < 8; i++ {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

// build4 flattens the IPv4 rules into disjoint spans: the boundaries of
// every prefix cut the address space into pieces, each of which takes the
// class of the first rule that holds it (def when none does); neighbours
// of one class are merged.
func build4(rules []rule, def model.Class) []span4 {
	type r4 struct {
		first, last uint32
		class       model.Class
	}
	var rs []r4
	cuts := []uint32{0}
	for _, r := range rules {
		if !r.p.Addr().Is4() {
			continue
		}
		first := v4num(r.p.Addr())
		last := first | uint32(uint64(1)<<(32-r.p.Bits())-1)
		rs = append(rs, r4{first, last, r.class})
		cuts = append(cuts, first)
		if last != ^uint32(0) {
			cuts = append(cuts, last+1)
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []span4
	for _, c := range cuts {
		cl := def
		for _, r := range rs {
			if r.first <= c && c <= r.last {
				cl = r.class
				break
			}
		}
		if len(out) == 0 || out[len(out)-1].class != cl {
			out = append(out, span4{c, cl})
		}
	}
	return out
}

// build6 is build4 for IPv6.
func build6(rules []rule, def model.Class) []span6 {
	type r6 struct {
		first, last u128
		class       model.Class
	}
	var rs []r6
	cuts := []u128{{}}
	for _, r := range rules {
		if !r.p.Addr().Is6() {
			continue
		}
		first := v6num(r.p.Addr())
		last := first
		if n := 128 - r.p.Bits(); n >= 64 {
			last.lo = ^uint64(0)
			last.hi |= uint64(1)<<(n-64) - 1
			if n == 128 {
				last.hi = ^uint64(0)
			}
		} else {
			last.lo |= uint64(1)<<n - 1
		}
		rs = append(rs, r6{first, last, r.class})
		cuts = append(cuts, first)
		if next, ok := inc(last); ok {
			cuts = append(cuts, next)
		}
	}
	slices.SortFunc(cuts, func(a, b u128) int {
		switch {
		case a.less(b):
			return -1
		case b.less(a):
			return 1
		}
		return 0
	})
	cuts = slices.Compact(cuts)
	var out []span6
	for _, c := range cuts {
		cl := def
		for _, r := range rs {
			if !c.less(r.first) && !r.last.less(c) {
				cl = r.class
				break
			}
		}
		if len(out) == 0 || out[len(out)-1].class != cl {
			out = append(out, span6{c, cl})
		}
	}
	return out
}

// inc returns v+1, ok false when v is the last address.
func inc(v u128) (u128, bool) {
	if v.lo != ^uint64(0) {
		return u128{v.hi, v.lo + 1}, true
	}
	if v.hi != ^uint64(0) {
		return u128{v.hi + 1, 0}, true
	}
	return v, false
}

// Local returns the class of a remote end on the host itself: a flow whose
// both ends are the host's addresses, loopback or not.
func (t *Table) Local() model.Class {
	if i := slices.Index(t.names, Local); i > 0 {
		return model.Class(i)
	}
	return model.ClassNone
}
