package monitor

import "testing"

// TestCountListeners: conntrack event listeners are NETLINK_NETFILTER
// (12) sockets in groups 1-3; this process's own are left out.
func TestCountListeners(t *testing.T) {
	const proc = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
00000000628634ee 0   0          00000000 0        0        0     2        0        4       
000000005f5b15e2 12  0          00000000 0        0        0     2        0        412     
00000000dc7c6928 12  1234       00000005 0        0        0     2        0        414     
00000000aaf1484a 12  -41        00000004 0        0        0     2        0        26      
00000000aaf1484b 12  -42        00000001 0        0        0     2        0        27      
00000000aaf1484c 12  -43        00000008 0        0        0     2        0        28      
00000000aaf1484d 0   777        00000007 0        0        0     2        0        29      
`
	if n := countListeners([]byte(proc), map[uint64]bool{26: true}); n != 2 {
		t.Errorf("countListeners = %d, want 2 (inodes 414 and 27: 26 is ours, 28 is in group 4, 29 is rtnetlink)", n)
	}
	if n := countListeners(nil, nil); n != 0 {
		t.Errorf("countListeners of nothing = %d", n)
	}
}
