package sockets

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseProcNet(t *testing.T) {
	tests := []struct {
		name, file string
		want       []Socket
	}{
		{"ping sockets", "testdata/proc_net_icmp", []Socket{
			{Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 7, UID: 0, Inode: 4242},
			{Local: netip.MustParseAddrPort("15.2.0.10:8081"), Remote: netip.MustParseAddrPort("127.0.0.1:0"), State: 7, UID: 1000, Inode: 99},
		}},
		{"raw6", "testdata/proc_net_raw6", []Socket{
			{Local: netip.MustParseAddrPort("[::1]:58"), Remote: netip.MustParseAddrPort("[::]:0"), State: 7, UID: 0, Inode: 777},
		}},
		{"tcp", "testdata/proc_net_tcp", []Socket{
			{Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: TCPListen, UID: 0, Inode: 1001},
			{Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.9:443"), State: TCPEstablished, UID: 1000, Inode: 1002},
			{Local: netip.MustParseAddrPort("10.0.0.1:40001"), Remote: netip.MustParseAddrPort("10.0.0.9:443"), State: 6, UID: 0, Inode: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseProcNet(f)
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

func TestParseProcNetErrors(t *testing.T) {
	const head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name, row string
	}{
		{"bad local address", "   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1"},
		{"no port", "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1"},
		{"bad state", "   0: 0100007F:1F90 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000     0        0 1 1"},
		{"bad uid", "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     x        0 1 1"},
		{"bad inode", "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 -1 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rows, err := ParseProcNet(strings.NewReader(head + tt.row + "\n")); err == nil {
				t.Errorf("no error, rows %+v", rows)
			}
		})
	}
}

// FuzzParseProcNet: no /proc/net table makes the parser panic; a row it
// keeps has valid addresses.
func FuzzParseProcNet(f *testing.F) {
	for _, file := range []string{"testdata/proc_net_icmp", "testdata/proc_net_raw6", "testdata/proc_net_tcp"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("h\n 0: 0100007F:0001 00000000:0000 07 0 0 0:0 0 0 0 4242\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ParseProcNet(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rows {
			if !r.Local.Addr().IsValid() || !r.Remote.Addr().IsValid() {
				t.Fatalf("kept a row with an invalid address: %+v", r)
			}
		}
	})
}

func TestTableName(t *testing.T) {
	tests := []struct {
		name  string
		proto uint8
		v6    bool
		want  string
	}{
		{"tcp", protoTCP, false, "tcp"},
		{"udp6", protoUDP, true, "udp6"},
		{"ping", protoICMP, false, "icmp"},
		{"ping6", protoICMPv6, true, "icmp6"},
		{"gre", 47, false, "raw"},
		{"sctp6", 132, true, "raw6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TableName(tt.proto, tt.v6); got != tt.want {
				t.Errorf("TableName(%d, %v) = %q, want %q", tt.proto, tt.v6, got, tt.want)
			}
		})
	}
}
