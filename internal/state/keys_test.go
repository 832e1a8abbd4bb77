package state

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

func TestCleanKey(t *testing.T) {
	tests := []struct {
		name, key, want string
		ok              bool
	}{
		{"clean app", "app/curl", "app/curl", true},
		{"empty app name", "app/", "app/", true},
		{"invalid UTF-8", "app/x\xffy", `app/x\xffy`, true},
		{"escape sequence and C1", "app/a\x1b[2J\u009b", `app/a\x1b[2J\u009b`, true},
		{"bidi override", "app/gpj.\u202eexe", `app/gpj.\u202eexe`, true},
		{"long name cut", "app/" + strings.Repeat("n", 1000), "app/" + safename.Clean(strings.Repeat("n", 1000)), true},
		{"reason", "unattributed/no_socket", "unattributed/no_socket", true},
		{"reason with a control", "unattributed/x\x00", `unattributed/x\x00`, true},
		{"reason missing", "unattributed/", "", false},
		{"forwarded pair", "forwarded/10.0.0.2/192.0.2.7", "forwarded/10.0.0.2/192.0.2.7", true},
		{"forwarded folded", "forwarded/10.0.0.3/*", "forwarded/10.0.0.3/*", true},
		{"forwarded total", "forwarded", "forwarded", true},
		{"forwarded remote with a slash", "forwarded/a/b/c", "forwarded/a/b/c", true},
		{"forwarded dirty", "forwarded/\xff/\u202e", `forwarded/\xff/\u202e`, true},
		{"forwarded without remote", "forwarded/10.0.0.2", "", false},
		{"forwarded empty parts", "forwarded//x", "", false},
		{"unknown kind", "junk", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cleanKey(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("cleanKey(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name  string
		k, v  []byte
		key   string
		t     model.Totals
		state recordState
	}{
		{"ok", []byte("app/curl"), val(1, 2), "app/curl", model.Totals{In: 1, Out: 2}, recordOK},
		{"repaired", []byte("app/\xff"), val(3, 4), `app/\xff`, model.Totals{In: 3, Out: 4}, recordRepaired},
		{"short value", []byte("app/curl"), []byte{1}, "", model.Totals{}, recordDropped},
		{"nil value", []byte("app/curl"), nil, "", model.Totals{}, recordDropped},
		{"unknown key", []byte("x"), val(1, 1), "", model.Totals{In: 1, Out: 1}, recordDropped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, got, st := decodeRecord(tt.k, tt.v)
			if key != tt.key || st != tt.state || (st != recordDropped && got != tt.t) {
				t.Fatalf("decodeRecord = %q, %+v, %v; want %q, %+v, %v", key, got, st, tt.key, tt.t, tt.state)
			}
		})
	}
}

// FuzzDecodeRecord checks what the store relies on for any record of a
// file: decoding never panics; a key it keeps is valid UTF-8, clean, short
// enough for bbolt, of a known kind, and decodes to itself.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{"app/curl", "app/x\xffy", "unattributed/no_socket", "forwarded/10.0.0.2/*", "forwarded", "forwarded/a", "junk", "app/\u202e\u009b"} {
		f.Add([]byte(s), val(1, 2))
	}
	f.Add([]byte("app/"+strings.Repeat("\xff", 300)), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		key, got, st := decodeRecord(k, v)
		if st == recordDropped {
			return
		}
		if len(v) != 16 {
			t.Fatalf("a %d-byte value decoded to %+v", len(v), got)
		}
		if !utf8.ValidString(key) || len(key) > len(fwdPrefix)+2*safename.MaxLen+1 {
			t.Fatalf("key %q (%d bytes)", key, len(key))
		}
		again, ok := cleanKey(key)
		if !ok || again != key {
			t.Fatalf("cleanKey(%q) = %q, %v: a clean key must stay itself", key, again, ok)
		}
		if (st == recordOK) != (key == string(k)) {
			t.Fatalf("state %v for %q -> %q", st, k, key)
		}
		c := counts{key: got}
		apps, _ := c.split()
		for name := range apps {
			if safename.Clean(name) != name {
				t.Fatalf("app name %q is not clean", name)
			}
		}
		if isAppKey(key) != (len(apps) == 1) {
			t.Fatalf("key %q splits to apps %v", key, apps)
		}
		for _, h := range c.forwarded().Hosts {
			if safename.Clean(h.Inside) != h.Inside || safename.Clean(h.Remote) != h.Remote {
				t.Fatalf("forwarded hosts %q, %q are not clean", h.Inside, h.Remote)
			}
		}
	})
}

// FuzzUsage builds a day from any key and date and checks that Usage never
// panics, lists at most the apps asked for and keeps the day's sums.
func FuzzUsage(f *testing.F) {
	f.Add("2025-06-01", "app/curl", "app/x", uint64(5), uint64(7), 1)
	f.Add("2025-6-1", "forwarded/a/b", "unattributed/x", uint64(1<<63), uint64(1<<63), 0)
	f.Add("x", "app/(other)", "app/", uint64(0), uint64(1), 3)
	f.Fuzz(func(t *testing.T, date, k1, k2 string, a, b uint64, apps int) {
		if apps < 0 || apps > 1000 {
			return
		}
		c := counts{}
		for _, k := range []string{k1, k2} {
			if key, ok := cleanKey(k); ok {
				c.add(key, a, b)
			}
		}
		h := &History{Totals: c.clone(), Days: []Day{{Date: date, Counts: c}}}
		for _, period := range []string{"day", "month"} {
			u, err := h.Usage(period, apps)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(u.Periods, u.Total) {
				named := 0
				var in uint64
				for _, x := range p.Apps {
					if x.App != "(other)" {
						named++
					}
					in = satAdd(in, x.BytesIn)
				}
				if apps > 0 && named > apps {
					t.Fatalf("%d apps listed, asked for %d", named, apps)
				}
				if satAdd(in, p.Unattributed.BytesIn) != p.BytesIn {
					t.Fatalf("apps sum to %d in, the period says %d", in, p.BytesIn)
				}
			}
		}
	})
}
