// Package links reads the kernel's statistics of the network interfaces of
// one network namespace over rtnetlink, and turns them into what each
// interface moved during a tick: bytes and packets in and out at the link
// layer, and the IP-layer bytes beside them (the link bytes less the link
// header each packet carries, as the kernel counts it for that kind of
// link: headers.go).
//
// A Reader asks the kernel for every interface's 64-bit counters each
// tick (one RTM_GETSTATS dump, a few hundred bytes an interface), and
// for the interfaces' names, kinds and masters (RTM_GETLINK) only when
// they change: it listens to the namespace's link notifications and
// lists the links again after any. A Tracker, which does no I/O, keeps
// the last counters of each interface and makes the deltas: a counter
// that goes back is read as a 32-bit wrap where that is plausible, else
// as a reset, so that no tick shows a negative or absurd figure.
//
// It also says each interface's role for coverage (Role): a loopback, a
// port of a bridge, bond or team (what reaches the IP stack is counted on
// its master), or a VLAN or macvlan stacked on a lower device of the same
// namespace (which counts its frames) are not counted; the others are.
//
// It does not parse /proc/net/dev, capture packets or change anything.
// Reading the statistics needs no privilege; opening a socket in another
// network namespace needs CAP_SYS_ADMIN (the caller does that: Open takes
// the namespace's file descriptor).
package links
