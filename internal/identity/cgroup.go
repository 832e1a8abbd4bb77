package identity

import (
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// Place is what a cgroup path tells of the processes in it.
type Place struct {
	// Unit is the innermost systemd unit (.service or .scope) on the
	// path, or "".
	Unit string
	// Container is the innermost container on the path, without its
	// name (the path does not tell it); zero for none.
	Container model.Container
	// OwnerUID is the user whose slice (user-UID.slice) or systemd
	// instance (user@UID.service) holds the cgroup, or -1: a rootless
	// container keeps its files in that user's home.
	OwnerUID int
}

// ParseProcCgroup reads the content of /proc/PID/cgroup: one
// "HIERARCHY:CONTROLLERS:PATH" line per hierarchy, "0::PATH" for cgroup
// v2. It returns the path that says most (the v2 one, else the v1
// name=systemd one, else the first v1 path that is not the root) and what
// it tells; the container is looked for on every path, since with cgroup
// v1 a runtime may place a process in its own cgroup on some controllers
// only. ok is false when no line could be read.
func ParseProcCgroup(content string) (path string, p Place, ok bool) {
	var v2, systemd string
	var v1 []string
	haveV2, haveSystemd := false, false
	for _, line := range strings.Split(content, "\n") {
		id, rest, found := strings.Cut(line, ":")
		if !found || id == "" {
			continue
		}
		ctrl, cg, found := strings.Cut(rest, ":") // the path may hold colons
		if !found || !strings.HasPrefix(cg, "/") {
			continue
		}
		switch {
		case id == "0" && ctrl == "":
			v2, haveV2 = cg, true
		case ctrl == "name=systemd":
			systemd, haveSystemd = cg, true
		default:
			v1 = append(v1, cg)
		}
	}
	var order []string
	if haveV2 {
		order = append(order, v2)
	}
	if haveSystemd {
		order = append(order, systemd)
	}
	order = append(order, v1...)
	if len(order) == 0 {
		return "", Place{OwnerUID: -1}, false
	}
	// A hybrid host shows "0::/" for processes systemd placed only in
	// its v1 hierarchy: prefer a path that is not the root.
	path = order[0]
	for _, cg := range order {
		if cg != "/" {
			path = cg
			break
		}
	}
	p = ParsePath(path)
	for _, cg := range order {
		if p.Container.ID != "" {
			break
		}
		if cg != path {
			p.Container = ParsePath(cg).Container
		}
	}
	return path, p, true
}

// scopePrefixes maps the prefix of a container's cgroup name
// ("docker-ID.scope" with the systemd cgroup driver, "crio-ID" with
// cgroupfs) to its runtime.
var scopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"nerdctl-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
}

// systemdPrefixes maps the middle part of runc's "SLICE:PREFIX:ID"
// systemd cgroup notation, which shows up verbatim in cgroup paths where
// no systemd manages the tree (kind, nested containers), to its runtime.
var systemdPrefixes = map[string]string{
	"docker":         "docker",
	"cri-containerd": "containerd",
	"crio":           "cri-o",
	"libpod":         "podman",
}

// ParsePath tells what a cgroup path says: the unit, the container and its
// Kubernetes pod, the owning user. Unknown shapes give an empty Place.
func ParsePath(path string) Place {
	p := Place{OwnerUID: -1}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	at := -1 // index of the container's component
	for i := len(parts) - 1; i >= 0 && at < 0; i-- {
		if c, ok := containerOf(parts, i); ok {
			p.Container, at = c, i
		}
	}
	podUpTo := len(parts) - 1
	if at >= 0 {
		podUpTo = at // only a pod above the container is its pod
	}
	for i, part := range parts {
		if uid, ok := podUID(part); ok && i <= podUpTo {
			p.Container.PodUID = uid
		}
		if u, ok := ownerUID(part); ok {
			p.OwnerUID = u
		}
		if strings.HasSuffix(part, ".service") || strings.HasSuffix(part, ".scope") {
			p.Unit = part
		}
	}
	return p
}

// containerOf recognises parts[i] as a container's cgroup.
func containerOf(parts []string, i int) (model.Container, bool) {
	part := parts[i]
	if f := strings.Split(part, ":"); len(f) == 3 {
		if rt, ok := systemdPrefixes[f[1]]; ok && isID(f[2]) {
			return model.Container{Runtime: rt, ID: f[2]}, true
		}
		return model.Container{}, false
	}
	name := strings.TrimSuffix(part, ".scope")
	for _, sp := range scopePrefixes {
		if id, ok := strings.CutPrefix(name, sp.prefix); ok && isID(id) {
			return model.Container{Runtime: sp.runtime, ID: id}, true
		}
	}
	if !isID(part) || i == 0 {
		return model.Container{}, false
	}
	// A bare ID: its parent says who made it.
	switch parent := parts[i-1]; {
	case parent == "docker":
		return model.Container{Runtime: "docker", ID: part}, true
	case strings.HasPrefix(parent, "pod"):
		if _, ok := podUID(parent); ok {
			// kubelet's cgroupfs driver: the path does not name the
			// runtime.
			return model.Container{Runtime: "cri", ID: part}, true
		}
	}
	return model.Container{}, false
}

// isID reports whether s is a 64-hex-digit container ID.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// podUID recognises a pod's cgroup: "podUID" (cgroupfs) or
// "kubepods-QOS-podUID_WITH_UNDERSCORES.slice" (systemd), also in the
// slice part of "SLICE:PREFIX:ID". The UID comes back with dashes.
func podUID(part string) (string, bool) {
	if slice, _, ok := strings.Cut(part, ":"); ok {
		part = slice
	}
	part = strings.TrimSuffix(part, ".slice")
	i := strings.LastIndex(part, "pod")
	if i < 0 || (i > 0 && part[i-1] != '-') {
		return "", false
	}
	uid := strings.ReplaceAll(part[i+3:], "_", "-")
	if !isUID(uid) {
		return "", false
	}
	return uid, true
}

// isUID reports whether s is a pod UID: a UUID, or the 32 hex digits of
// a static pod's hash.
func isUID(s string) bool {
	switch len(s) {
	case 32:
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return false
		}
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' && len(s) == 36 && (i == 8 || i == 13 || i == 18 || i == 23) {
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ownerUID recognises "user@UID.service" and "user-UID.slice".
func ownerUID(part string) (int, bool) {
	var digits string
	switch {
	case strings.HasPrefix(part, "user@") && strings.HasSuffix(part, ".service"):
		digits = part[len("user@") : len(part)-len(".service")]
	case strings.HasPrefix(part, "user-") && strings.HasSuffix(part, ".slice"):
		digits = part[len("user-") : len(part)-len(".slice")]
	default:
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
