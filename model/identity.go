package model

import "strconv"

// Identity says where a process runs: as which user, in which cgroup,
// systemd unit and container. The fields bwmon could not learn are empty.
type Identity struct {
	// UID is the effective user ID, as the host sees it.
	UID int
	// User is the name /etc/passwd gives UID, or "" when it has none.
	User string
	// Cgroup is the process's cgroup path (the cgroup v2 one, else the
	// v1 name=systemd one), as /proc/PID/cgroup shows it.
	Cgroup string
	// Unit is the systemd unit the cgroup belongs to ("nginx.service",
	// "session-3.scope", "docker-<id>.scope"), or "".
	Unit string
	// Container is the container the process runs in; its ID is "" for
	// a process of the host.
	Container Container
}

// Container names a container, as its cgroup path and the container
// runtime's files on disk tell it.
type Container struct {
	// Runtime is "docker", "containerd", "podman", "cri-o", or "cri"
	// for a Kubernetes container whose cgroup path does not say which
	// runtime runs it.
	Runtime string `json:"runtime"`
	// ID is the runtime's container ID (64 hex digits).
	ID string `json:"id"`
	// Name is the container's name where the runtime's files tell it:
	// the Docker or Podman name, or NAMESPACE/POD/CONTAINER for a
	// Kubernetes container.
	Name string `json:"name,omitempty"`
	// PodUID is the UID of the Kubernetes pod the container belongs to.
	PodUID string `json:"pod_uid,omitempty"`
}

// shortID is how many hex digits of a container ID name it where its name
// is unknown, as `docker ps` shows it.
const shortID = 12

// Label is how a table names the container: its name, else its short ID,
// else its pod; "" for no container.
func (c Container) Label() string {
	switch {
	case c.Name != "":
		return c.Name
	case len(c.ID) > shortID:
		return c.ID[:shortID]
	case c.ID != "":
		return c.ID
	case c.PodUID != "":
		return "pod-" + c.PodUID
	}
	return ""
}

// UserRef is a user in an AppUsage: the UID, and its name when known.
type UserRef struct {
	UID  int    `json:"uid"`
	Name string `json:"name,omitempty"`
}

// Label is the user's name, else the UID in decimal.
func (u UserRef) Label() string {
	if u.Name != "" {
		return u.Name
	}
	return strconv.Itoa(u.UID)
}
