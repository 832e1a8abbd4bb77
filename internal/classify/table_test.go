package classify

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestLookup(t *testing.T) {
	tb, err := New(Config{Rules: []Rule{
		{Name: "lab", CIDR: []string{"10.20.0.0/16", "fd00:20::/32", "198.51.100.7"}},
		{Name: "vpc", CIDR: []string{"10.0.0.0/8", "2001:db8::/32"}},
		{Name: "private", CIDR: []string{"203.0.113.0/24"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "lab", "vpc", "private", "local", "internet"}
	if got := tb.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("names %q, want %q", got, want)
	}
	for _, c := range []struct {
		name, addr, class string
	}{
		{"first match wins", "10.20.3.4", "lab"},
		{"later rule", "10.21.0.1", "vpc"},
		{"first address of a prefix", "10.20.0.0", "lab"},
		{"last address of a prefix", "10.20.255.255", "lab"},
		{"just past a prefix", "10.21.0.0", "vpc"},
		{"single address", "198.51.100.7", "lab"},
		{"beside a single address", "198.51.100.8", "internet"},
		{"user rule before the built-in", "10.255.255.255", "vpc"},
		{"user rule adds to a built-in class", "203.0.113.9", "private"},
		{"rfc1918 172", "172.16.0.1", "private"},
		{"past 172.16/12", "172.32.0.1", "internet"},
		{"rfc1918 192.168", "192.168.1.1", "private"},
		{"cgnat", "100.64.0.1", "private"},
		{"link-local v4", "169.254.1.1", "private"},
		{"loopback v4", "127.0.0.1", "local"},
		{"loopback v4 high", "127.255.255.254", "local"},
		{"internet v4", "8.8.8.8", "internet"},
		{"zero v4", "0.0.0.0", "internet"},
		{"last v4", "255.255.255.255", "internet"},
		{"v4-mapped v6", "::ffff:10.20.1.1", "lab"},
		{"v4-mapped loopback", "::ffff:127.0.0.1", "local"},
		{"v6 user", "fd00:20::1", "lab"},
		{"v6 ula after user", "fd00:21::1", "private"},
		{"v6 vpc", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "vpc"},
		{"v6 past vpc", "2001:db9::", "internet"},
		{"v6 link-local", "fe80::1", "private"},
		{"v6 loopback", "::1", "local"},
		{"v6 unspecified", "::", "internet"},
		{"v6 last", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "internet"},
		{"v6 internet", "2a00:1450::1", "internet"},
		{"v6 with zone", "fe80::1%eth0", "private"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := tb.Names()[tb.Lookup(netip.MustParseAddr(c.addr))]
			if got != c.class {
				t.Errorf("%s: %q, want %q", c.addr, got, c.class)
			}
		})
	}
	if c := tb.Lookup(netip.Addr{}); c != model.ClassNone {
		t.Errorf("zero address: class %d, want none", c)
	}
}

func TestDefault(t *testing.T) {
	tb := Default()
	if got := strings.Join(tb.Names(), ","); got != ",local,private,internet" {
		t.Fatalf("names %q", got)
	}
	if n := tb.Names()[tb.Lookup(netip.MustParseAddr("10.1.1.1"))]; n != Private {
		t.Errorf("10.1.1.1 is %q", n)
	}
	// Disjoint spans, merged: 0/8.. internet, 10/8 private, ...
	for i := 1; i < len(tb.v4); i++ {
		if tb.v4[i].start <= tb.v4[i-1].start || tb.v4[i].class == tb.v4[i-1].class {
			t.Fatalf("span %d: %+v after %+v", i, tb.v4[i], tb.v4[i-1])
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen+1)
	many := make([]Rule, MaxRules+1)
	for i := range many {
		many[i] = Rule{Name: "c" + string(rune('a'+i)), CIDR: []string{"10.0.0.0/8"}}
	}
	for _, c := range []struct {
		name  string
		rules []Rule
		field string
		msg   string
	}{
		{"ok", []Rule{{Name: "lab", CIDR: []string{"10.0.0.0/8", "::1"}}}, "", ""},
		{"no name", []Rule{{CIDR: []string{"10.0.0.0/8"}}}, "class.0.name", "needs name"},
		{"bad name", []Rule{{Name: "a b", CIDR: []string{"10.0.0.0/8"}}}, "class.0.name", "bad class name"},
		{"digit first", []Rule{{Name: "1a", CIDR: []string{"10.0.0.0/8"}}}, "class.0.name", "bad class name"},
		{"long name", []Rule{{Name: long, CIDR: []string{"10.0.0.0/8"}}}, "class.0.name", "longer than"},
		{"twice", []Rule{{Name: "a", CIDR: []string{"10.0.0.0/8"}}, {Name: "a", CIDR: []string{"11.0.0.0/8"}}}, "class.1.name", "defined twice"},
		{"no cidr", []Rule{{Name: "a"}}, "class.0", "no cidr"},
		{"bad cidr", []Rule{{Name: "a", CIDR: []string{"10.0.0.0/33"}}}, "class.0.cidr", "bad cidr"},
		{"host bits", []Rule{{Name: "a", CIDR: []string{"10.1.2.3/8"}}}, "class.0.cidr", "write 10.0.0.0/8"},
		{"name", []Rule{{Name: "a", CIDR: []string{"example.com"}}}, "class.0.cidr", "bad cidr"},
		{"too many", many, "class", "at most 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Config{Rules: c.rules}.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want field %q with %q", err, c.field, c.msg)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{" 192.0.2.1 ", "192.0.2.1/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
	} {
		p, err := ParsePrefix(c.in)
		if err != nil || p.String() != c.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", c.in, p, err, c.want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/", "fe80::1%eth0", "1.2.3.4/8", "::/-1"} {
		if _, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q): no error", in)
		}
	}
}

// FuzzLookup checks that a table built from any prefix answers, for any
// address, the class of the first rule holding it, as a slow scan does.
func FuzzLookup(f *testing.F) {
	f.Add("10.0.0.0/8", "10.20.0.0/16", []byte{10, 20, 1, 1})
	f.Add("fd00::/8", "::ffff:1.2.3.0/120", []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("0.0.0.0/0", "::/0", []byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, p1, p2 string, addr []byte) {
		rules := []Rule{{Name: "a", CIDR: []string{p1}}, {Name: "b", CIDR: []string{p2}}}
		tb, err := New(Config{Rules: rules})
		if err != nil {
			return
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		got := tb.Names()[tb.Lookup(a)]
		want := Internet
		u := a.Unmap()
		pa, _ := ParsePrefix(p1)
		pb, _ := ParsePrefix(p2)
		switch {
		case pa.Contains(u):
			want = "a"
		case pb.Contains(u):
			want = "b"
		default:
			for _, b := range builtin {
				for _, s := range b.prefixes {
					if netip.MustParsePrefix(s).Contains(u) {
						want = b.name
						goto done
					}
				}
			}
		done:
		}
		if got != want {
			t.Fatalf("%s with %q, %q: %q, want %q", a, p1, p2, got, want)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tb := Default()
	addrs := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2a00:1450::1")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tb.Lookup(addrs[i%len(addrs)])
	}
}
