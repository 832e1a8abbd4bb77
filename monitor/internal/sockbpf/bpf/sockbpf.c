// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
//
// bwmon's kernel side: every inet socket gets a slot when it is created
// (owner: tgid, comm, netns), its packets add their IP length to the slot
// at cgroup_skb, and its final counters go to user space through a ring
// buffer when it is done. docs/design.md ("The kernel programs") explains
// the hooks, maps and limits; sockbpf_linux.go reads what these write.
//
// Build: `make generate` (bpf2go, clang -O2 -g -target bpf -mcpu=v3).

#include "types.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#define SLOT_NONE 0xffffffffu    // no slot: the map was full
#define SLOT_PENDING 0xfffffffeu // being adopted by another CPU

// A slot's cookie_out while it is not a live socket's: being handed out,
// closed, or (in the spill region) free. A home slot is free when its
// cookie_out is 0, and taken by the compare-and-swap of 0 to COOKIE_HELD.
// No socket has this cookie (the kernel's count starts at 1).
#define COOKIE_HELD 0xffffffffffffffffull

// The slot's state, as user space sees it.
#define STATE_FREE 0
#define STATE_LIVE 1
#define STATE_CLOSED 2 // final, waiting for user space (the ring buffer was full)

// sock_state.flags
#define F_STATE_CB 1 // sock_ops reports this TCP socket's state changes
#define F_RELEASED 2 // cgroup/sock_release has run

// Refresh the tuple from the packet on the first packet of each direction
// and then every TUPLE_EVERY packets (an unconnected UDP socket changes
// peers).
#define TUPLE_EVERY 1024 // sockbpf_linux.go: tupleEvery (Socket.TupleSeq)

// Indexes of the stats array.
enum {
	STAT_NEXT = 0,     // slots handed out fresh so far (user space scans [0, next))
	STAT_MAP_FULL = 1, // sockets that found no free slot
	STAT_RING_LOST = 2, // close records the ring buffer could not take
	STAT_ADOPTED = 3,  // sockets first seen at a packet (older than the programs)
	STAT_NO_STORAGE = 4, // sk_storage could not be allocated
	STAT_MAX = 8,
};

// slot is one socket's owner and counters: 128 bytes, the counters in the
// first cache line. User space reads the slots array through mmap; the
// layout is mirrored in sockbpf_linux.go (bpf2go generates sockbpfSlot).
struct slot {
	// First cache line: what ingress writes, and what only changes when
	// the slot is handed to a socket.
	__u64 bytes_in;
	__u64 packets_in;
	__u64 cookie;
	__u64 netns;
	__u32 pid;
	__u32 gen; // bumped when the slot is handed to a socket; in a close record, the slot's index
	__u8 state;
	__u8 family; // the socket's
	__u8 proto;
	__u8 listener; // set at listen(): its tuple is its first handshake's
	char comm[16];
	__u8 type; // SOCK_STREAM, SOCK_DGRAM, SOCK_RAW (bpf_sock->type)
	// late: a TCP socket that closed before its peer's FIN (it turned
	// into a time-wait socket in FIN-WAIT-2): the peer's FIN and the ACK
	// answering it pass after its final counters, and no program sees
	// them (conntrack does).
	__u8 late;
	__u8 pad0[2];
	// Second cache line: what egress writes, and the tuple.
	__u64 bytes_out;
	__u64 packets_out;
	// cookie_out is cookie while the socket is live, COOKIE_HELD (or 0)
	// otherwise: what egress checks (line one is ingress's to write), and
	// what a home slot is claimed by.
	__u64 cookie_out;
	__u32 laddr[4], raddr[4]; // network order, v4 in [0]
	__u16 lport, rport; // host order
	__u8 tuple_family; // the packets' (0 until the first one)
	__u8 pad1[3];
};

// sock_state is kept with the socket itself (BPF_MAP_TYPE_SK_STORAGE).
// BPF_F_CLONE: an accepted socket starts with a copy of its listener's,
// which is how it learns its server's owner.
struct sock_state {
	__u64 cookie; // the socket whose slot this is (a clone still holds the listener's)
	__u32 slot;
	__u32 flags;
	// The owner of a socket that found the map full (slot SLOT_NONE):
	// its packets are counted in overflow under this key.
	__u64 netns;
	__u32 pid;
	__u32 pad;
};

// overflow counts the bytes of the sockets that found the map full, by
// namespace and creator: they are counted, if not each on its own. The
// entry {0, 0}, made by user space at load, takes those whose own entry
// found this map full too.
struct overflow_key {
	__u64 netns;
	__u32 pid;
	__u32 pad;
};

struct overflow_val {
	__u64 bytes_in;
	__u64 bytes_out;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct overflow_key);
	__type(value, struct overflow_val);
} overflow SEC(".maps");

volatile const __u32 max_slots = 1;
volatile const __u32 index_mask = 0; // sock_index's size - 1 (a power of two)
// The slots [0, home_mask] are home slots: a socket whose cookie's low
// bits (cookie & home_mask) name a free one takes it, and its packets
// find it from the cookie alone, with no index entry between (one
// dependent load less a packet). A socket whose home slot is taken gets
// one of the spill slots, [home_mask + 1, max_slots), found through
// sock_index. Set by user space (sockbpf_linux.go: homeSlots).
volatile const __u32 home_mask = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_state);
} sock_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); // Options.MaxSockets, set at load
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

// sock_index is the packets' fast way to a socket's slot: entry
// (cookie & index_mask) holds the slot of the socket most recently given
// it, and a packet whose socket's cookie is not in that slot takes the
// socket-local storage instead (and claims the entry again). One lookup
// by cookie, a word read from the kernel's socket, instead of
// bpf_sk_storage_get's chain of dependent loads through the socket, its
// storage and the storage's element.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); // the power of two >= Options.MaxSockets, set at load
	__type(key, __u32);
	__type(value, __u32);
} sock_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 1); // Options.MaxSockets, set at load
	__type(value, __u32);
} free_slots SEC(".maps"); // spill slots only

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); // 4 MiB: ~30,000 close records
} closed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

// exe_names holds, for each process that made a socket, its executable's
// file name (the last part of the path it was exec'd by, as /proc/PID/exe
// ends) with the comm it had then: the name a process that exited before
// user space read it is known by, where its comm alone is cut at 15
// bytes. Keyed by tgid; the comm tells an entry of a PID reused or
// exec'd since (user space takes the name only when the slot's comm is
// the entry's). Written at a process's first socket, and again when its
// comm changed: a lookup per socket made, nothing per packet. Only with
// read_task set.
#define EXE_NAME_LEN 64 // sockbpf_linux.go: exeNameLen

struct exe_name {
	char comm[16];
	char name[EXE_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct exe_name);
} exe_names SEC(".maps");

// read_task: the programs may read the current task with
// bpf_probe_read_kernel (CAP_PERFMON, a kernel not locked down), for the
// executable's name (exe_names) and the process's comm. User space sets
// it, and loads the programs again without it where they are refused.
volatile const __u8 read_task = 0;

#define barrier() asm volatile("" ::: "memory")

static __always_inline void stat_add(__u32 k, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		__sync_fetch_and_add(v, n);
}

// alloc_slot hands out a slot for the socket of this cookie: its home
// slot if that is free, else a spill slot (a freed one, else a fresh one).
static __always_inline __u32 alloc_slot(__u64 cookie)
{
	__u32 idx = cookie & home_mask;
	struct slot *h = bpf_map_lookup_elem(&slots, &idx);
	if (h && cookie && *(volatile __u64 *)&h->cookie_out == 0 &&
	    __sync_val_compare_and_swap(&h->cookie_out, 0, COOKIE_HELD) == 0)
		return idx;
	if (bpf_map_pop_elem(&free_slots, &idx) == 0)
		return idx;
	__u32 k = STAT_NEXT;
	__u64 *next = bpf_map_lookup_elem(&stats, &k);
	if (!next)
		return SLOT_NONE;
	__u64 n = __sync_fetch_and_add(next, 1);
	if (n >= max_slots - home_mask - 1) {
		stat_add(STAT_MAP_FULL, 1);
		return SLOT_NONE;
	}
	return (__u32)n + home_mask + 1;
}

// free_slot makes slot idx free: egress stops matching it first, then the
// state, then a home slot can be claimed again (a spill slot goes back on
// the stack).
static __always_inline void free_slot(__u32 idx, struct slot *s)
{
	*(volatile __u64 *)&s->cookie_out = COOKIE_HELD;
	*(volatile __u8 *)&s->state = STATE_FREE;
	barrier();
	if (idx <= home_mask)
		*(volatile __u64 *)&s->cookie_out = 0;
	else
		bpf_map_push_elem(&free_slots, &idx, 0);
}

// init_slot hands slot idx to a socket. The gen bump comes first and the
// state last, so that user space, reading gen before and after, never
// takes half of one socket and half of another.
static __always_inline struct slot *init_slot(__u32 idx, __u64 cookie, __u64 netns, __u32 pid, __u8 family, __u8 type, __u8 proto)
{
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (!s)
		return 0;
	*(volatile __u32 *)&s->gen = s->gen + 1;
	barrier();
	s->bytes_in = 0;
	s->bytes_out = 0;
	s->packets_in = 0;
	s->packets_out = 0;
	s->cookie = cookie;
	s->netns = netns;
	s->pid = pid;
	s->family = family;
	s->type = type;
	s->proto = proto;
	s->tuple_family = 0;
	s->listener = 0;
	s->late = 0;
	s->lport = 0;
	s->rport = 0;
	__builtin_memset(s->laddr, 0, sizeof(s->laddr));
	__builtin_memset(s->raddr, 0, sizeof(s->raddr));
	__builtin_memset(s->comm, 0, sizeof(s->comm));
	return s;
}

static __always_inline void index_slot(__u64 cookie, __u32 idx)
{
	__u32 k = cookie & index_mask;
	__u32 *e = bpf_map_lookup_elem(&sock_index, &k);
	if (e && *e != idx)
		*e = idx;
}

// publish makes slot idx live and the packets' fast way to it: a home
// slot is found from the cookie, a spill slot through sock_index.
static __always_inline void publish(struct slot *s, __u32 idx)
{
	barrier();
	*(volatile __u8 *)&s->state = STATE_LIVE;
	*(volatile __u64 *)&s->cookie_out = s->cookie;
	if (idx > home_mask)
		index_slot(s->cookie, idx);
}

// finalize hands the socket's final counters to user space once: through
// the ring buffer, or, when it is full, by leaving the slot in
// STATE_CLOSED for user space to collect and free.
static __always_inline void finalize(struct sock_state *st)
{
	__u32 idx = __sync_lock_test_and_set(&st->slot, SLOT_NONE);
	if (idx >= max_slots)
		return;
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (!s)
		return;
	struct slot *r = bpf_ringbuf_reserve(&closed, sizeof(*r), 0);
	if (!r) {
		stat_add(STAT_RING_LOST, 1);
		barrier();
		*(volatile __u64 *)&s->cookie_out = COOKIE_HELD;
		*(volatile __u8 *)&s->state = STATE_CLOSED;
		return;
	}
	__builtin_memcpy(r, s, sizeof(*r));
	r->state = STATE_CLOSED;
	r->gen = idx; // a record's gen is the slot it left (Socket.Slot)
	bpf_ringbuf_submit(r, 0);
	free_slot(idx, s);
}

// no_slot records the owner of a socket that found the map full, so that
// its packets are counted in overflow.
static __always_inline void no_slot(struct sock_state *st, __u64 netns, __u32 pid, const char *comm)
{
	struct overflow_key k = {.netns = netns, .pid = pid};
	struct overflow_val v = {};
	__builtin_memcpy(v.comm, comm, sizeof(v.comm));
	if (bpf_map_update_elem(&overflow, &k, &v, BPF_NOEXIST) == 0 || bpf_map_lookup_elem(&overflow, &k)) {
		st->netns = netns;
		st->pid = pid;
	} else {
		st->netns = 0; // the shared entry
		st->pid = 0;
	}
}

// The kernel's types on the way from the current task to its executable's
// name, relocated by CO-RE against the running kernel's BTF.
struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
} __attribute__((preserve_access_index));

struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct task_struct {
	struct mm_struct *mm;
	struct task_struct *group_leader;
	char comm[16];
} __attribute__((preserve_access_index));

// process_comm writes the current process's comm into dst: its thread
// group leader's, which /proc/PID/stat and the process table show, where
// the thread that makes the socket may have named itself otherwise
// (prctl(PR_SET_NAME), as tokio's, Java's and browsers' workers are).
// Without read_task, the current thread's.
static __always_inline void process_comm(char *dst)
{
	if (read_task) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct task_struct *l = BPF_CORE_READ(t, group_leader);
		if (l && bpf_core_read_str(dst, 16, &l->comm) > 0)
			return;
	}
	bpf_get_current_comm(dst, 16);
}

static __always_inline int same_comm(const char *a, const char *b)
{
	for (int i = 0; i < 16; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 1;
}

// note_exe records the current process's executable name in exe_names,
// unless it is there already under its current comm.
static __always_inline void note_exe(__u32 tgid, const char *comm)
{
	struct exe_name v = {};
	__builtin_memcpy(v.comm, comm, sizeof(v.comm));
	struct exe_name *e = bpf_map_lookup_elem(&exe_names, &tgid);
	if (e && same_comm(e->comm, v.comm))
		return;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	const unsigned char *name = BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.name);
	if (!name || bpf_probe_read_kernel_str(v.name, sizeof(v.name), name) <= 0)
		return; // a kernel thread, or no executable
	bpf_map_update_elem(&exe_names, &tgid, &v, BPF_ANY);
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	struct sock_state *st = bpf_sk_storage_get(&sock_states, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		stat_add(STAT_NO_STORAGE, 1);
		return 1;
	}
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u64 netns = bpf_get_netns_cookie(ctx);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	char comm[16] = {};
	process_comm(comm);
	if (read_task)
		note_exe(pid, comm);
	st->cookie = cookie;
	st->flags = 0;
	__u32 idx = alloc_slot(cookie);
	if (idx != SLOT_NONE) {
		struct slot *s = init_slot(idx, cookie, netns, pid, ctx->family, ctx->type, ctx->protocol);
		if (!s) {
			idx = SLOT_NONE;
		} else {
			__builtin_memcpy(s->comm, comm, sizeof(s->comm));
			publish(s, idx);
		}
	}
	if (idx == SLOT_NONE)
		no_slot(st, netns, pid, comm);
	st->slot = idx;
	return 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	struct sock_state *st = bpf_sk_storage_get(&sock_states, ctx, 0, 0);
	if (!st)
		return 1;
	__u32 old = __sync_fetch_and_or(&st->flags, F_RELEASED);
	// A TCP socket sends on after close (queued data, FIN, ACKs): sock_ops
	// finalizes it when it reaches TCP_CLOSE.
	if (ctx->protocol == IPPROTO_TCP && (old & F_STATE_CB) && ctx->state != BPF_TCP_CLOSE)
		return 1;
	finalize(st);
	return 1;
}

static __always_inline void want_state_cb(struct bpf_sock_ops *ops, struct sock_state *st)
{
	if (bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG) == 0)
		__sync_fetch_and_or(&st->flags, F_STATE_CB);
}

// owner is what a socket's slot says of its process.
struct owner {
	__u64 netns;
	__u32 pid;
	char comm[16];
};

// owner_of copies the owner from the slot st refers to, if that slot
// still belongs to the socket st was made for.
static __always_inline int owner_of(struct sock_state *st, struct owner *o)
{
	__u32 idx = st->slot;
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (!s || s->cookie != st->cookie || s->state != STATE_LIVE)
		return 0;
	o->pid = s->pid;
	o->netns = s->netns;
	__builtin_memcpy(o->comm, s->comm, sizeof(o->comm));
	return 1;
}

// mptcp_owner finds the owner of an MPTCP subflow: the kernel creates
// subflows itself (no cgroup/sock_create), so the owner is the MPTCP
// socket's, the one the process holds (Go listens with MPTCP by default
// since 1.24).
static __always_inline int mptcp_owner(void *sk, struct owner *o)
{
	struct mptcp_sock *msk = bpf_skc_to_mptcp_sock(sk);
	if (!msk)
		return 0;
	struct sock_state *mst = bpf_sk_storage_get(&sock_states, msk, 0, 0);
	return mst && owner_of(mst, o);
}

// passive gives an accepted socket a slot of its own with its listener's
// owner (its sock_state is a clone of the listener's, BPF_F_CLONE), or
// PID 0 when the listener is older than the programs.
static __always_inline void passive(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return;
	struct owner o = {};
	struct sock_state *st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st) {
		owner_of(st, &o);
	} else {
		mptcp_owner(sk, &o);
		st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_add(STAT_NO_STORAGE, 1);
			return;
		}
	}
	if (!o.netns)
		o.netns = bpf_get_netns_cookie(ops);
	__u64 cookie = bpf_get_socket_cookie(ops);
	st->cookie = cookie;
	st->flags = 0;
	__u32 idx = alloc_slot(cookie);
	if (idx != SLOT_NONE) {
		struct slot *s = init_slot(idx, cookie, o.netns, o.pid, sk->family, sk->type, IPPROTO_TCP);
		if (!s) {
			idx = SLOT_NONE;
		} else {
			__builtin_memcpy(s->comm, o.comm, sizeof(o.comm));
			publish(s, idx);
		}
	}
	if (idx == SLOT_NONE)
		no_slot(st, o.netns, o.pid, o.comm);
	st->slot = idx;
	want_state_cb(ops, st);
}

// adopt gives a socket that has no state yet a slot: an MPTCP subflow
// gets its MPTCP socket's owner, a socket created before the programs
// were attached PID 0 (Socket.Adopted).
static __always_inline struct sock_state *adopt(struct bpf_sock *sk, __u64 cookie, __u64 netns)
{
	struct sock_state init = {.slot = SLOT_PENDING};
	struct sock_state *st = bpf_sk_storage_get(&sock_states, sk, &init, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (st->slot != SLOT_PENDING)
		return st; // another CPU adopted it first
	struct owner o = {};
	int mptcp = mptcp_owner(sk, &o);
	if (!o.netns)
		o.netns = netns;
	__u32 idx = alloc_slot(cookie);
	struct slot *s = 0;
	if (idx != SLOT_NONE) {
		s = init_slot(idx, cookie, o.netns, o.pid, sk->family, sk->type, sk->protocol);
		if (!s)
			idx = SLOT_NONE;
		else
			__builtin_memcpy(s->comm, o.comm, sizeof(o.comm));
	}
	if (idx == SLOT_NONE)
		no_slot(st, o.netns, o.pid, o.comm);
	if (__sync_val_compare_and_swap(&st->slot, SLOT_PENDING, idx) != SLOT_PENDING) {
		if (s)
			free_slot(idx, s);
		return st;
	}
	st->cookie = cookie;
	if (s)
		publish(s, idx);
	if (!mptcp)
		stat_add(STAT_ADOPTED, 1);
	return st;
}

// The kernel's own types, for the fields the fast path and sock_ops read:
// CO-RE relocates the offsets against the running kernel's BTF.
struct sock_common {
	struct {
		__s64 counter;
	} skc_cookie;
	unsigned long skc_flags; // sk->sk_flags
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

enum sock_flags {
	SOCK_DEAD,
	SOCK_DONE, // the peer's FIN came (tcp_fin)
};

struct bpf_sock_ops_kern {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct sock *sk;
} __attribute__((preserve_access_index));

// bpf_cast_to_kern_ctx (Linux 6.2) is inlined by the verifier: it turns
// the context into the kernel's sk_buff, whose socket's cookie is then a
// plain load instead of a helper call (bpf_get_socket_cookie). Weak: on
// an older kernel the loader drops the branch that uses it.
extern void *bpf_cast_to_kern_ctx(void *) __ksym __weak;

// peer_fin_pending reports whether a socket closing from FIN-WAIT-2 has
// not had its peer's FIN (SOCK_DONE, which tcp_fin sets; sk_shutdown
// will not do: close(2) sets it whole): it goes on as a time-wait socket
// waiting for it (an orphan whose FIN was acknowledged, or one closed in
// FIN-WAIT-2). Unknown (0) where the context cannot be read as the
// kernel's (before Linux 6.2).
static __always_inline int peer_fin_pending(struct bpf_sock_ops *ops)
{
	if (!bpf_cast_to_kern_ctx)
		return 0;
	struct bpf_sock_ops_kern *k = bpf_cast_to_kern_ctx(ops);
	struct sock *sk = k->sk;
	if (!sk)
		return 0;
	return !(sk->__sk_common.skc_flags & (1ul << bpf_core_enum_value(enum sock_flags, SOCK_DONE)));
}

// mark_late marks the socket's slot late (see struct slot) before its
// final counters go out.
static __always_inline void mark_late(struct sock_state *st)
{
	__u32 idx = st->slot;
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (s && s->cookie == st->cookie)
		s->late = 1;
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk;
	struct sock_state *st;

	switch (ops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		// From here on the socket is finalized when it reaches TCP_CLOSE
		// (a kernel socket, such as an MPTCP subflow, is never released).
		sk = ops->sk;
		if (!sk)
			break;
		st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
		if (!st)
			st = adopt(sk, bpf_get_socket_cookie(ops), bpf_get_netns_cookie(ops));
		if (!st)
			break;
		if (ops->op == BPF_SOCK_OPS_TCP_LISTEN_CB) {
			__u32 idx = st->slot;
			struct slot *s = bpf_map_lookup_elem(&slots, &idx);
			if (s)
				s->listener = 1;
		}
		if (!(st->flags & F_STATE_CB))
			want_state_cb(ops, st);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		passive(ops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ops->args[1] != BPF_TCP_CLOSE)
			break;
		sk = ops->sk;
		if (!sk)
			break;
		st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
		if (!st)
			break;
		if (ops->args[0] == BPF_TCP_FIN_WAIT2 && peer_fin_pending(ops))
			mark_late(st);
		finalize(st);
		break;
	}
	return 1;
}

struct ip4 {
	__u8 vhl, tos;
	__u16 len, id, frag;
	__u8 ttl, proto;
	__u16 csum;
	__u32 saddr, daddr;
};

struct ip6 {
	__u32 vtcfl;
	__u16 len;
	__u8 next, hops;
	__u32 saddr[4], daddr[4];
};

// note_tuple records the packet's addresses and ports as the socket's
// local and remote end.
static __noinline void note_tuple(struct __sk_buff *skb, struct slot *s, int egress)
{
	__u8 vhl;
	__u16 ports[2] = {};
	__u32 src[4] = {}, dst[4] = {};
	__u8 fam, proto;
	__u32 l4;

	if (!s || bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return;
	if ((vhl >> 4) == 4) {
		struct ip4 h;
		if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)))
			return;
		fam = AF_INET;
		proto = h.proto;
		src[0] = h.saddr;
		dst[0] = h.daddr;
		l4 = (h.vhl & 0xf) * 4;
		if (h.frag & bpf_htons(0x1fff)) // not the first fragment: no ports
			proto = 0;
	} else if ((vhl >> 4) == 6) {
		struct ip6 h;
		if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)))
			return;
		fam = AF_INET6;
		proto = h.next;
		__builtin_memcpy(src, h.saddr, 16);
		__builtin_memcpy(dst, h.daddr, 16);
		l4 = sizeof(h);
	} else {
		return;
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP)
		bpf_skb_load_bytes(skb, l4 & 0xff, ports, sizeof(ports));
	s->tuple_family = fam;
	if (egress) {
		__builtin_memcpy(s->laddr, src, 16);
		__builtin_memcpy(s->raddr, dst, 16);
		s->lport = bpf_ntohs(ports[0]);
		s->rport = bpf_ntohs(ports[1]);
	} else {
		__builtin_memcpy(s->laddr, dst, 16);
		__builtin_memcpy(s->raddr, src, 16);
		s->lport = bpf_ntohs(ports[1]);
		s->rport = bpf_ntohs(ports[0]);
	}
}

// slow_state finds the state of a packet's full socket that has none at
// hand: it adopts it. (A request socket's SYN-ACK is not counted: the
// verifier offers no typed way from it to its listener.)
static __noinline struct sock_state *slow_state(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 0;
	return adopt(sk, bpf_get_socket_cookie(skb), 0);
}


// cookie_of is the packet's socket's cookie, 0 if it has none yet.
static __always_inline __u64 cookie_of(struct __sk_buff *skb)
{
	if (bpf_cast_to_kern_ctx) {
		struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
		struct sock *sk = kskb->sk;
		return sk ? sk->__sk_common.skc_cookie.counter : 0;
	}
	return bpf_get_socket_cookie(skb);
}

// live_for reports whether slot s is the live slot of the socket with
// this cookie. Each direction checks the cookie in the line it writes:
// egress cookie_out (COOKIE_HELD or 0 unless live), ingress cookie and
// state. Cookie 0 (an accepted socket before passive gave it one) never
// matches.
static __always_inline int live_for(struct slot *s, __u64 cookie, int egress)
{
	return s && cookie && (egress ? s->cookie_out == cookie : s->cookie == cookie && s->state == STATE_LIVE);
}

// slot_of finds a packet's slot: from its socket's cookie, the home slot
// or else the slot sock_index names (the fast ways), else through the
// socket-local storage, adopting the socket if it has none.
static __always_inline struct slot *slot_of(struct __sk_buff *skb, struct bpf_sock *sk, int egress)
{
	__u64 cookie = cookie_of(skb);
	__u32 idx = cookie & home_mask;
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (live_for(s, cookie, egress))
		return s;
	__u32 k = cookie & index_mask;
	__u32 *e = bpf_map_lookup_elem(&sock_index, &k);
	if (!e)
		return 0;
	idx = *e;
	s = bpf_map_lookup_elem(&slots, &idx);
	if (live_for(s, cookie, egress))
		return s;
	struct sock_state *st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (!st) {
		st = slow_state(skb);
		if (!st)
			return 0;
	}
	idx = st->slot;
	s = bpf_map_lookup_elem(&slots, &idx);
	// An accepted socket counts with its listener until sock_ops gives it
	// a slot: only a socket's own spill slot goes into the index.
	if (s && cookie && s->cookie == cookie && idx > home_mask)
		index_slot(cookie, idx);
	return s;
}

// count_overflow counts a packet of a socket that found the map full.
static __noinline void count_overflow(struct __sk_buff *skb, struct bpf_sock *sk, int egress)
{
	if (!sk)
		return;
	struct sock_state *st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (!st || st->slot != SLOT_NONE)
		return;
	struct overflow_key k = {.netns = st->netns, .pid = st->pid};
	struct overflow_val *v = bpf_map_lookup_elem(&overflow, &k);
	if (!v) {
		k.netns = 0;
		k.pid = 0;
		v = bpf_map_lookup_elem(&overflow, &k);
		if (!v)
			return;
	}
	if (egress)
		__sync_fetch_and_add(&v->bytes_out, skb->len);
	else
		__sync_fetch_and_add(&v->bytes_in, skb->len);
}

static __always_inline int count(struct __sk_buff *skb, int egress)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	struct slot *s = slot_of(skb, sk, egress);
	if (!s) {
		count_overflow(skb, sk, egress);
		return 1;
	}
	// One locked instruction a packet, for the bytes. The packets are a
	// plain increment: exact while one CPU at a time sends (or receives)
	// on the socket, a count short when two race; they only pace
	// note_tuple.
	__u64 *bytes = egress ? &s->bytes_out : &s->bytes_in;
	__u64 *packets = egress ? &s->packets_out : &s->packets_in;
	__sync_fetch_and_add(bytes, skb->len);
	__u64 n = *(volatile __u64 *)packets;
	*(volatile __u64 *)packets = n + 1;
	if ((n & (TUPLE_EVERY - 1)) == 0)
		note_tuple(skb, s, egress);
	return 1;
}

SEC("cgroup_skb/ingress")
int skb_ingress(struct __sk_buff *skb)
{
	return count(skb, 0);
}

SEC("cgroup_skb/egress")
int skb_egress(struct __sk_buff *skb)
{
	return count(skb, 1);
}
