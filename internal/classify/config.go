package classify

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// Rule is one [[class]] section: a class name and the prefixes of the
// remote addresses it holds.
type Rule struct {
	Name string
	// CIDR lists prefixes ("10.20.0.0/16", "2001:db8::/32") or single
	// addresses; see ParsePrefix.
	CIDR []string
}

// Config is what a Table is built from: the [[class]] rules, in the order
// they are tried.
type Config struct {
	Rules []Rule
}

// Names of the built-in classes, which come after the configuration's.
const (
	Local    = "local"
	Private  = "private"
	Internet = "internet"
)

// Bounds of the configuration: a class is a label of every app's line in
// the JSON, the metrics and the store, so there are few of them.
const (
	// MaxRules is how many [[class]] sections a configuration may hold.
	MaxRules = 16
	// MaxPrefixes bounds the prefixes of all the rules together.
	MaxPrefixes = 4096
	// MaxNameLen bounds a class's name, in bytes.
	MaxNameLen = 32
)

// Validate reports the first rule of c that cannot be used, as a
// *model.FieldError naming its key ("class.2.cidr"; "class" for the
// sections as a whole).
func (c Config) Validate() error {
	if len(c.Rules) > MaxRules {
		return model.FieldErrorf("class", "%d [[class]] sections: at most %d (each is a label of every app's line)", len(c.Rules), MaxRules)
	}
	seen := make(map[string]int, len(c.Rules))
	n := 0
	for i, r := range c.Rules {
		field := fmt.Sprintf("class.%d", i)
		if err := checkName(r.Name); err != nil {
			return model.FieldErrorf(field+".name", "%v", err)
		}
		if j, dup := seen[r.Name]; dup {
			return model.FieldErrorf(field+".name", "class %q is defined twice (sections %d and %d): put all its prefixes in one section", r.Name, j+1, i+1)
		}
		seen[r.Name] = i
		if len(r.CIDR) == 0 {
			return model.FieldErrorf(field, `class %q has no cidr: write cidr = ["10.20.0.0/16", ...]`, r.Name)
		}
		for _, s := range r.CIDR {
			if _, err := ParsePrefix(s); err != nil {
				return model.FieldErrorf(field+".cidr", "class %q: %v", r.Name, err)
			}
		}
		n += len(r.CIDR)
		if n > MaxPrefixes {
			return model.FieldErrorf(field+".cidr", "more than %d prefixes in all the [[class]] sections", MaxPrefixes)
		}
	}
	return nil
}

// checkName reports whether name can name a class: a letter, then letters,
// digits, "_" or "-", at most MaxNameLen bytes. A class name is a label
// value and a key of the state store, so it is plain.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf(`[[class]] needs name = "...": a letter, then letters, digits, "_" or "-"`)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("class name %.40q is longer than %d bytes", name, MaxNameLen)
	}
	for i, r := range name {
		ok := r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'))
		if !ok {
			return fmt.Errorf(`bad class name %q: a letter, then letters, digits, "_" or "-"`, name)
		}
	}
	return nil
}

// ParsePrefix reads one cidr entry: a prefix ("10.20.0.0/16",
// "fd00:1::/64") or a single address ("192.0.2.7", "2001:db8::1"). An
// IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is read as the IPv4 one.
// A prefix with bits set past its length is refused: it is more often a
// typo than a wish.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("bad cidr %.64q: write a prefix (\"10.20.0.0/16\", \"fd00::/8\") or an address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	} else {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("bad cidr %.64q: write a prefix (\"10.20.0.0/16\", \"fd00::/8\") or an address", s)
		}
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("cidr %q has bits set past /%d: write %s", s, p.Bits(), m)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}
