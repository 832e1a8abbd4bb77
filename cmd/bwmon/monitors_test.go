package main

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/pipe"
)

// nonZero returns a value of type t other than its zero value, or false
// for a kind a configuration does not hold.
func nonZero(t reflect.Type) (reflect.Value, bool) {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7.5)
	case reflect.String:
		v.SetString("x")
	case reflect.Pointer:
		if t == reflect.TypeFor[*regexp.Regexp]() {
			return reflect.ValueOf(regexp.MustCompile("x")), true
		}
		e, ok := nonZero(t.Elem())
		if !ok {
			return v, false
		}
		v = reflect.New(t.Elem())
		v.Elem().Set(e)
	case reflect.Slice:
		e, ok := nonZero(t.Elem())
		if !ok {
			return v, false
		}
		v = reflect.Append(reflect.MakeSlice(t, 0, 1), e)
	case reflect.Struct:
		if t.NumField() == 0 || !t.Field(0).IsExported() {
			return v, false
		}
		e, ok := nonZero(t.Field(0).Type)
		if !ok {
			return v, false
		}
		v.Field(0).Set(e)
	default:
		return v, false
	}
	return v, true
}

// TestIdentityEveryField: a change to any field of a monitor's Config,
// the fields it will gain included, changes its reload identity, so that
// a reload restarts it. A field the identity cannot see (unexported, or of
// a kind JSON does not encode) fails the test.
func TestIdentityEveryField(t *testing.T) {
	base := config.Defaults()
	base.Conntrack[0].Include = []*regexp.Regexp{regexp.MustCompile("nginx")}
	base.Pipes = []pipe.Config{{Name: "p", Listen: ":1", Target: "h:2"}}
	ids := func(cfg *config.Config) (conntrack, pipe string) {
		specs := monitorSpecs(cfg)
		return specs[0].id, specs[1].id
	}
	ct0, pipe0 := ids(base)
	for _, tc := range []struct {
		name string
		// copy returns a copy of base and the Config under test in it.
		copy func() (*config.Config, reflect.Value)
	}{
		{name: "conntrack", copy: func() (*config.Config, reflect.Value) {
			c := *base
			c.Conntrack = []monitor.ConntrackConfig{base.Conntrack[0]}
			return &c, reflect.ValueOf(&c.Conntrack[0]).Elem()
		}},
		{name: "pipe", copy: func() (*config.Config, reflect.Value) {
			c := *base
			c.Pipes = []pipe.Config{base.Pipes[0]}
			return &c, reflect.ValueOf(&c.Pipes[0]).Elem()
		}},
	} {
		_, v := tc.copy()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			t.Run(tc.name+"."+f.Name, func(t *testing.T) {
				if !f.IsExported() {
					t.Fatalf("%s is unexported: the reload identity cannot see it", f.Name)
				}
				cfg, v := tc.copy()
				nz, ok := nonZero(f.Type)
				if !ok {
					t.Fatalf("%s is a %s: teach nonZero and the identity about it", f.Name, f.Type)
				}
				if reflect.DeepEqual(v.Field(i).Interface(), nz.Interface()) {
					nz = reflect.Zero(f.Type)
				}
				v.Field(i).Set(nz)
				ct, p := ids(cfg)
				if changed := map[string]bool{"conntrack": ct != ct0, "pipe": p != pipe0}; !changed[tc.name] {
					t.Fatalf("setting %s to %v leaves the identity %q: a reload would not restart the monitor", f.Name, nz, ct)
				}
				if tc.name == "pipe" && ct != ct0 || tc.name == "conntrack" && p != pipe0 {
					t.Fatalf("setting the %s monitor's %s changed the other monitor's identity", tc.name, f.Name)
				}
			})
		}
	}
}

// TestIdentity: the same configuration read twice keeps every monitor
// (regexes compile anew, their sources are equal); what a reload must
// notice beyond a monitor's Config restarts it.
func TestIdentity(t *testing.T) {
	const text = "[[monitor]]\ntype = \"conntrack\"\nexclude = [\"sshd\"]\n[[monitor]]\ntype = \"pipe\"\nlisten = \":8080\"\ntarget = \"h:80\"\n"
	parse := func(text string) []monitorSpec {
		t.Helper()
		cfg, err := config.Parse("c.toml", text)
		if err != nil {
			t.Fatal(err)
		}
		return monitorSpecs(cfg)
	}
	a, b := parse(text), parse(text)
	if len(a) != 2 || a[0].id != b[0].id || a[1].id != b[1].id {
		t.Fatalf("the same file gives the identities\n%q %q\n%q %q", a[0].id, a[1].id, b[0].id, b[1].id)
	}
	tests := []struct {
		name, text string
		changed    int // the index of the spec that changes
	}{
		{"manage", "[conntrack]\nmanage = false\n" + text, 0},
		{"a regex", strings.Replace(text, "sshd", "sshd$", 1), 0},
		{"a shared [conntrack] key", "[conntrack]\nforwarded = false\n" + text, 0},
		{"a limit", "[limits]\nnamespaces = 3\n" + text, 0},
		{"a pipe key", strings.Replace(text, "h:80", "h:81", 1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parse(tt.text)
			for i := range c {
				if changed := c[i].id != a[i].id; changed != (i == tt.changed) {
					t.Fatalf("monitor %d: identity changed %v, want %v:\n%s\n%s", i, changed, i == tt.changed, a[i].id, c[i].id)
				}
			}
		})
	}
	t.Run("a field-like change: a Config with one more field", func(t *testing.T) {
		type grown struct {
			pipe.Config
			Backlog int
		}
		pc := pipe.Config{Listen: ":1", Target: "h:2"}
		if identity("pipe", grown{pc, 0}) == identity("pipe", grown{pc, 128}) {
			t.Fatal("a new field's change leaves the identity")
		}
	})
	t.Run("unencodable: restarts every time", func(t *testing.T) {
		type withFunc struct{ F func() }
		if x, y := identity("x", withFunc{}), identity("x", withFunc{}); x == y {
			t.Fatalf("two unencodable configurations share the identity %q", x)
		}
	})
}
