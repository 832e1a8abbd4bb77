package netns

import (
	"net/netip"
	"os"
	"strconv"

	vnetns "github.com/vishvananda/netns"
)

// namespaceAddrs lists the addresses a namespace's sockets can be bound to,
// but loopback and link-local ones, which every namespace has and which
// never leave it: by rtnetlink in the namespace, else from
// /proc/PID/net/fib_trie and if_inet6.
func namespaceAddrs(path string, pid int) ([]netip.Addr, error) {
	addrs, err := rtnlAddrs(path)
	if err != nil && pid > 0 {
		addrs, err = procNetAddrs(pid)
	}
	if err != nil {
		return nil, err
	}
	out := addrs[:0]
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || !a.IsValid() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// rtnlAddrs lists the addresses of the namespace at path by rtnetlink.
func rtnlAddrs(path string) ([]netip.Addr, error) {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return addrsAt(h)
}

// procNetAddrs reads a namespace's local addresses from the files of one
// of its processes: IPv4 ones are the "/32 host LOCAL" leaves of
// /proc/PID/net/fib_trie, IPv6 ones the rows of /proc/PID/net/if_inet6.
func procNetAddrs(pid int) ([]netip.Addr, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/net/"
	b, err := os.ReadFile(dir + "fib_trie")
	if err != nil {
		return nil, err
	}
	out := parseFibTrieLocal(string(b))
	if b, err := os.ReadFile(dir + "if_inet6"); err == nil {
		out = append(out, parseIfInet6(string(b))...)
	}
	return out, nil
}
