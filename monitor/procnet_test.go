package monitor

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseProcNet(t *testing.T) {
	tests := []struct {
		name, file string
		want       []procNetSocket
	}{
		{"ping sockets", "testdata/proc_net_icmp", []procNetSocket{
			{local: netip.MustParseAddrPort("127.0.0.1:1"), remote: netip.MustParseAddrPort("0.0.0.0:0"), uid: 0, inode: 4242},
			{local: netip.MustParseAddrPort("15.2.0.10:8081"), remote: netip.MustParseAddrPort("127.0.0.1:0"), uid: 1000, inode: 99},
		}},
		{"raw6", "testdata/proc_net_raw6", []procNetSocket{
			{local: netip.MustParseAddrPort("[::1]:58"), remote: netip.MustParseAddrPort("[::]:0"), uid: 0, inode: 777},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := parseProcNet(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("row %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzParseProcNet: no /proc/net table makes the parser panic; a row it
// keeps has a valid local address.
func FuzzParseProcNet(f *testing.F) {
	for _, file := range []string{"testdata/proc_net_icmp", "testdata/proc_net_raw6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("h\n 0: 0100007F:0001 00000000:0000 07 0 0 0:0 0 0 0 4242\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := parseProcNet(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rows {
			if !r.local.Addr().IsValid() || !r.remote.Addr().IsValid() {
				t.Fatalf("kept a row with an invalid address: %+v", r)
			}
		}
	})
}
