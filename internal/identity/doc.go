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
// are pure functions, and the roots read from are fields, so tests run on
// testdata/ trees.
//
// It reads /proc/PID/cgroup and /proc/PID/status, which any user may read,
// and /etc/passwd; container names need the runtimes' state directories,
// which on most hosts only root can read. It must see the host's cgroup
// namespace: in another one the paths are relative and name no container.
package identity
