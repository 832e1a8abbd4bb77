// Package monitor counts bytes per process from the kernel's conntrack
// table, read over netlink with github.com/ti-mo/conntrack: a dump each tick
// for live flows, NEW and DESTROY events for flows that start and end
// between ticks. Each flow's local ends are tied to their sockets with
// NETLINK_SOCK_DIAG (TCP, UDP) or /proc/net/{icmp,raw}* (ping and raw
// sockets), and sockets to processes through an inode map kept up to date
// by the kernel's proc connector, with one full /proc/PID/fd scan at start.
//
// It does not run `conntrack -L`, parse /proc/net/nf_conntrack, capture
// packets or do any per-packet work: its cost follows flows and processes.
// Bytes are IP-layer bytes as conntrack counts them (headers included).
//
// It needs root (or CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH),
// a kernel with conntrack, and must run in the host's network and PID
// namespaces for process events; it can watch another network namespace.
// With Options.Manage it sets net.netfilter.nf_conntrack_acct=1 and, where
// no rule engages conntrack, adds an nftables table of its own, "inet
// bwmon-PID-N" (removing those of agents that are gone); Close removes it
// and leaves accounting on. It does neither in a network namespace owned by
// a user namespace other than the initial one (an ordinary user's) unless
// ConntrackConfig.ManageUserNamespaces.
//
// With ConntrackConfig.AllNamespaces it reads the tables of at most
// MaxNamespaces other network namespaces at once, each with a few sockets
// and a thread of its own, all released when the namespace goes. A kernel
// reader (conntrack events, proc connector) that fails is opened again
// after a pause, and each failure is counted in MonitorStats.ReadErrors.
package monitor
