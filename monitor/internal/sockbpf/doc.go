// Package sockbpf counts bytes per socket in the kernel with eBPF and
// knows each socket's owner from the moment it is created.
//
// Open loads five programs (bpf/sockbpf.c, compiled by bpf2go; the object
// is committed) and attaches them with bpf_links to the root of the cgroup
// v2 hierarchy, found in /proc/self/mountinfo, so that every process on
// the host, containers included, is covered:
//
//   - cgroup/sock_create gives each new IPv4/IPv6 socket a slot holding its
//     owner (tgid, the process's comm, network namespace cookie) and
//     counters, and notes the process's executable name (exe_names);
//   - sock_ops gives an accepted TCP socket its listener's owner, a kernel
//     socket (an MPTCP subflow) its MPTCP socket's, and asks to hear when
//     a TCP socket reaches CLOSE;
//   - cgroup_skb ingress and egress add each packet's IP length (the layer
//     conntrack counts) to its socket's slot, found by the socket's cookie
//     in an index (no helper call on Linux 6.2 and later), and note the
//     packet's tuple;
//   - cgroup/sock_release (and, for TCP, the CLOSE state, since a closed
//     TCP socket still sends its queued data and FIN) hands the final
//     counters to user space through a ring buffer and frees the slot.
//
// Read walks the slots (mapped into memory a window of 1 MiB at a time,
// no system call per socket) and the close records, which a goroutine of
// the Counter moves out of the ring buffer every 100 ms (so that a small
// ring serves a tick of closing sockets). Sockets older than the programs
// are counted from their first packet, with PID 0 (Socket.Adopted): the
// caller finds their owner by cookie (sock_diag's idiag_cookie).
//
// Nothing is pinned and no bpffs is needed: the kernel detaches the
// programs when the last descriptor of their links closes, at Close or
// when the process exits or is killed. Loss is never silent: a socket that
// finds every slot taken is counted in Stats.MapFull (its bytes are not
// counted here), and a close record the ring buffer cannot take stays in
// its slot until Read collects it (Stats.RingLost). docs/design.md ("The
// kernel programs") has the hooks, maps, sizes and limits.
//
// It does not resolve processes, sanitise names, nor know flows or
// conntrack: the socket monitor in package monitor does that.
//
// Privileges: CAP_BPF and CAP_PERFMON to load the programs (they read
// kernel pointers: MPTCP subflows), CAP_NET_ADMIN to attach them to a
// cgroup; Linux 5.12 or later (bpf_link for cgroups, sk_storage cloned
// to accepted sockets, atomic exchange), cgroup v2 and BTF; on 6.2 and
// later the packets' path reads the socket's cookie without a helper call
// (bpf_cast_to_kern_ctx, a weak kfunc: older kernels take the helper).
// Open's error wraps ErrUnsupported when the host lacks one of these.
//
// Read, Stats and Close: one goroutine calls Read (and not at the same
// time as Close); Stats may be called from any goroutine. Open starts one
// goroutine; Close stops it and returns once it has.
package sockbpf
