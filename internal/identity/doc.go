// Package identity tells where a process runs: as which user (UID and
// name), in which cgroup, systemd unit and container. It reads
// /proc/PID/cgroup and the Uid line of /proc/PID/status, recognises the
// cgroup path shapes of systemd, Docker, containerd, Podman, CRI-O and
// Kubernetes (container IDs, pod UIDs), and finds a container's name in
// the runtime's own files on disk: Docker's config.v2.json, the
// containers/storage containers.json of Podman and CRI-O, CRI-O's
// per-container config.json, and the kubelet's /var/log/containers links.
// User names come from /etc/passwd.
//
// It talks to no daemon (no Docker or CRI socket, no systemd D-Bus) and
// does not resolve users through NSS (LDAP, systemd-homed): a UID absent
// from /etc/passwd has no name. Parsing is apart from reading: the parsers
// are pure functions, fuzzed, and the roots read from are fields, so tests
// run on testdata/ trees.
//
// # Never blocking the caller
//
// Resolver.Process reads only procfs (at most 64 KiB of /proc/PID/cgroup,
// 8 KiB of /proc/PID/status) and, when /etc/passwd changed, that file (a
// regular file of root's, at most 16 MiB; lines over 64 KiB skipped). It
// never reads a container's files: one worker goroutine does, started by
// NewResolver and stopped by Close, fed by a queue of 256 lookups (a
// container seen while it is full is looked up at a later sighting). The
// caller gets what is known: no name (so the short ID shows) until the
// worker found it, then the cached name. At a container's first sighting,
// and only when the worker is idle, Process waits up to Options.NameWait
// (20 ms by default) for it, since a process is identified once. The cache
// holds 4,096 containers; a name found is looked up again after 10
// minutes (a renamed container is seen then), one not found after a
// minute. A refused file is logged once per container, at most one line
// a second.
//
// # What a name lookup reads
//
// Any user who can start a container chooses what is in its files, and a
// rootless container's files are in its user's home, under a path the
// user's own cgroup names. So each file is opened with O_NONBLOCK,
// O_NOFOLLOW and O_CLOEXEC and read only if fstat says it is a regular
// file (never a FIFO, device or socket) within its cap: containers.json
// 4 MiB, a container's config.v2.json or config.json 1 MiB, daemon.json
// 64 KiB, at most 16,384 /var/log/containers entries. It is read in 64 KiB
// chunks, and a lookup stops when its second is up. The runtimes' files
// outside homes must be owned by root (or bwmon's own user). Under a
// user's home (~/.local/share/containers/storage, ~/.local/share/docker)
// no symbolic link and no mount point is followed: each component is
// opened from its parent with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_XDEV), or with openat(O_NOFOLLOW) and a device check on
// kernels before 5.6; the home, each directory and the file must be owned
// by that user, root or bwmon's user; and a home that is itself a FUSE
// mount is not read (its server could stall any read). What a name file
// holds is parsed and passed through safename.Clean, as are the user,
// unit and cgroup (cut at 4 KiB) Process hands out.
//
// Locks: Users.mu and the naming cache's lock are never held together.
//
// It reads /proc/PID/cgroup and /proc/PID/status, which any user may read,
// and /etc/passwd; container names need the runtimes' state directories,
// which on most hosts only root can read. It must see the host's cgroup
// namespace: in another one the paths are relative and name no container.
// Only Linux is supported: elsewhere Process returns nil.
package identity
