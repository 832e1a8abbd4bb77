// Package netns is what bwmon knows of the host's network namespaces:
//
//   - NS, the namespace a monitor watches, reached by file descriptor from
//     bwmon's own (netlink sockets are opened in it; the few files that
//     follow the reader's namespace are read from a thread that entered
//     it);
//   - Host, the host's namespace (init_net), against which a process's
//     namespace is labelled: PID 1's, else a kernel thread's, else bwmon's
//     own when it has init_net's fixed inode, else unknown (no labels);
//   - Tracker and Peer, the other namespaces (containers, pods, `ip netns
//     add`, `unshare -rn`), found under /run/netns and in every process's
//     /proc/PID/ns/net, with their addresses and their sockets (package
//     sockets), so that a NATed flow is tied to a container's process;
//   - Readers, the set of readers of other namespaces' conntrack tables
//     with [conntrack] namespaces = "all": at most Max at once, those of
//     the initial user namespace first, then the oldest, the rest skipped
//     and counted; a reader is stopped when its namespace goes or a
//     better-ranked one takes its place. What a reader is, the monitor
//     says (a start function).
//
// It does not read conntrack or processes. Opening another namespace
// needs CAP_SYS_ADMIN; reading another process's /proc/PID/ns/net,
// CAP_SYS_PTRACE.
//
// # Locks
//
// Tracker: scanMu (one scan at a time) is taken before mu, and a Peer's
// mu inside both. Readers: syncMu (one Sync at a time), then mu, then wmu
// (the addresses Watches answers for); the tracker's locks are never held
// while Readers takes its own, and Readers.Each holds mu while it calls
// into each reader.
package netns
