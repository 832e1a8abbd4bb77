package monitor

import (
	"net/netip"
	"os"
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
