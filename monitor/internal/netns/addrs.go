package netns

import (
	"net/netip"
	"strconv"
	"strings"
)

// parseFibTrieLocal returns the addresses that fib_trie lists as local:
// a "|-- ADDR" line followed by a "/32 host LOCAL" one.
func parseFibTrieLocal(s string) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	var last netip.Addr
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && strings.HasSuffix(f[len(f)-2], "|--"):
			last, _ = netip.ParseAddr(f[len(f)-1])
		case len(f) == 3 && f[0] == "/32" && f[1] == "host" && f[2] == "LOCAL":
			if last.IsValid() && !seen[last] {
				seen[last] = true
				out = append(out, last)
			}
		}
	}
	return out
}

// parseIfInet6 returns the addresses of /proc/net/if_inet6 rows (32 hex
// digits first).
func parseIfInet6(s string) []netip.Addr {
	var out []netip.Addr
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || len(f[0]) != 32 {
			continue
		}
		var b [16]byte
		ok := true
		for i := range 16 {
			v, err := strconv.ParseUint(f[0][2*i:2*i+2], 16, 8)
			if err != nil {
				ok = false
				break
			}
			b[i] = byte(v)
		}
		if ok {
			out = append(out, netip.AddrFrom16(b))
		}
	}
	return out
}
