// Package monitor counts bytes per process from the kernel's conntrack
// table, read over netlink: a dump each tick for live flows, NEW and
// DESTROY events for flows that start and end between ticks. Each flow's
// local ends are tied to their sockets with NETLINK_SOCK_DIAG (TCP, UDP)
// or /proc/net/{icmp,raw}* (ping and raw sockets), and sockets to processes
// through an inode map kept up to date by the kernel's proc connector, with
// one full /proc/PID/fd scan at start.
//
// Where the kernel allows it ([socket] mode, ConntrackConfig.Socket), the
// bytes of local sockets are counted at the socket instead: the socket
// monitor (Socket, socket.go) reads the per-socket counters of the eBPF
// programs in internal/sockbpf, books them for each socket's creator or,
// where it differs, the process holding its inode, and claims the
// sockets' ends (claims.go), which the conntrack tables then settle as
// counted elsewhere (claimResolver): every byte once. Conntrack keeps what
// has no local socket.
//
// It does not run `conntrack -L`, parse /proc/net/nf_conntrack, capture
// packets or do any per-packet work: its cost follows flows and processes.
// Bytes are IP-layer bytes as conntrack counts them (headers included).
//
// # Layout: the path a byte takes
//
// This package holds the public API (NewConntrack, Options,
// ConntrackConfig, NamespaceStats) and the wiring; its parts are packages
// under internal/, in the order a byte meets them:
//
//   - ctnetlink: the kernel's records (Rec, Key), read by dump, GET and
//     events;
//   - flows: the flow table, which turns records into bytes per owner;
//   - owners: who owns a flow's end, asking
//   - sockets: the socket at that end (sock_diag, /proc/net; one matcher,
//     one cache), and
//   - procs: the process holding the socket (the process table);
//   - netns: the network namespaces (the watched one, the host's, the
//     others and their capped set of readers);
//   - links: each namespace's interfaces (RTM_GETSTATS), the bytes a
//     tick's flows are set against for coverage.
//
// nlconn (raw netlink sockets) and subscription (kernel readers reopened
// after a failure) serve the others. Here, tableReader (reader_linux.go,
// events_linux.go, dumps_linux.go) reads one namespace's table into a
// flow table; Conntrack owns the one of the watched namespace and, with
// ConntrackConfig.AllNamespaces, the others' (netns.Readers), and shares
// with them the process table, the namespace tracker and the sockets
// cache. kernel_linux.go sets the kernel up (accounting, nftables).
//
// # Locks
//
// Where locks nest, they are taken in this order, never the other way:
// netns.Readers' syncMu, then its mu (held while a reader is collected),
// then a tableReader's dumpMu, then its mu (the flow table's lock), then
// the locks of what a lookup reaches while the table is held: the flow
// table's ownersMu, the socket monitor's claims (an RWMutex, innermost of
// its own), the resolver's, the tracker's (scanMu, mu, then a
// Peer's), the sockets' (Namespace, Cache), the process table's (newScan,
// then mu); netns.Readers' wmu is innermost. No lock of these packages is
// held while calling back into a package listed before it.
//
// # Privileges
//
// It needs root (or CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH,
// and CAP_BPF and CAP_PERFMON to count at the socket),
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
