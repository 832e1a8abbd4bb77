package identity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// Names finds containers' names in the runtimes' own files under Root; it
// asks no daemon. Each lookup reads a few files: callers cache (Resolver
// does, by cgroup path).
type Names struct {
	// Root is the directory the runtimes' state is under ("" for "/").
	Root string
}

// The runtimes' state, relative to Root (or to a rootless user's home).
const (
	dockerRoot       = "var/lib/docker"
	dockerDaemonJSON = "etc/docker/daemon.json"
	storageRoot      = "var/lib/containers/storage" // Podman, CRI-O
	kubeLogs         = "var/log/containers"         // kubelet's links, any runtime
	rootlessDocker   = ".local/share/docker"
	rootlessStorage  = ".local/share/containers/storage"
)

// Lookup returns c's name, or "" when no file tells it. home is the home
// directory of the user a rootless container belongs to, "" for none.
func (n *Names) Lookup(c model.Container, home string) string {
	root := rootDir(n.Root)
	if c.ID == "" {
		return ""
	}
	if c.PodUID != "" || c.Runtime == "cri" || c.Runtime == "containerd" || c.Runtime == "cri-o" {
		if name := n.kubeLog(c.ID); name != "" {
			return name
		}
	}
	switch c.Runtime {
	case "docker":
		dirs := []string{n.dockerDataRoot()}
		if home != "" {
			dirs = append(dirs, filepath.Join(root, home, rootlessDocker))
		}
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(d, "containers", c.ID, "config.v2.json")); err == nil {
				if name := ParseDockerConfig(b); name != "" {
					return name
				}
			}
		}
	case "cri-o":
		if b, err := os.ReadFile(filepath.Join(root, storageRoot, "overlay-containers", c.ID, "userdata", "config.json")); err == nil {
			if name := ParseCRIOConfig(b); name != "" {
				return name
			}
		}
		return n.storageName(c.ID, filepath.Join(root, storageRoot))
	case "podman":
		dirs := []string{filepath.Join(root, storageRoot)}
		if home != "" {
			dirs = append([]string{filepath.Join(root, home, rootlessStorage)}, dirs...)
		}
		for _, d := range dirs {
			if name := n.storageName(c.ID, d); name != "" {
				return name
			}
		}
	}
	return ""
}

// dockerDataRoot is /var/lib/docker, or the "data-root" daemon.json sets.
func (n *Names) dockerDataRoot() string {
	root := rootDir(n.Root)
	if b, err := os.ReadFile(filepath.Join(root, dockerDaemonJSON)); err == nil {
		var cfg struct {
			DataRoot string `json:"data-root"`
		}
		if json.Unmarshal(b, &cfg) == nil && filepath.IsAbs(cfg.DataRoot) {
			return filepath.Join(root, cfg.DataRoot)
		}
	}
	return filepath.Join(root, dockerRoot)
}

// storageName looks id up in a containers/storage containers.json (the
// overlay driver's, else vfs's).
func (n *Names) storageName(id, dir string) string {
	for _, driver := range []string{"overlay", "vfs"} {
		b, err := os.ReadFile(filepath.Join(dir, driver+"-containers", "containers.json"))
		if err != nil {
			continue
		}
		if name := ParseStorageContainers(b, id); name != "" {
			return name
		}
	}
	return ""
}

// kubeLog finds id among the kubelet's /var/log/containers links.
func (n *Names) kubeLog(id string) string {
	d, err := os.Open(filepath.Join(rootDir(n.Root), kubeLogs))
	if err != nil {
		return ""
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return ""
	}
	for _, f := range names {
		if name, ok := ParseKubeLogName(f, id); ok {
			return name
		}
	}
	return ""
}

// ParseDockerConfig returns the container name in a Docker
// containers/ID/config.v2.json ("/web" → "web"; a Kubernetes
// "k8s_..." name → NAMESPACE/POD/CONTAINER).
func ParseDockerConfig(b []byte) string {
	var cfg struct {
		Name string `json:"Name"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return kubeName(strings.TrimPrefix(cfg.Name, "/"))
}

// ParseStorageContainers returns the first name of container id in a
// containers/storage containers.json (Podman, CRI-O), or "".
func ParseStorageContainers(b []byte, id string) string {
	var list []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
	}
	if json.Unmarshal(b, &list) != nil {
		return ""
	}
	for _, c := range list {
		if c.ID == id && len(c.Names) > 0 {
			return kubeName(c.Names[0])
		}
	}
	return ""
}

// ParseCRIOConfig returns NAMESPACE/POD/CONTAINER from the annotations of
// a CRI-O container's userdata/config.json, or "".
func ParseCRIOConfig(b []byte) string {
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(b, &spec) != nil {
		return ""
	}
	a := spec.Annotations
	ns, pod, ctr := a["io.kubernetes.pod.namespace"], a["io.kubernetes.pod.name"], a["io.kubernetes.container.name"]
	if ns != "" && pod != "" && ctr != "" {
		return ns + "/" + pod + "/" + ctr
	}
	if full := a["io.kubernetes.cri-o.ContainerName"]; strings.HasPrefix(full, "k8s_") {
		return kubeName(full)
	}
	return ""
}

// ParseKubeLogName reads a kubelet log link name,
// "POD_NAMESPACE_CONTAINER-ID.log", and returns NAMESPACE/POD/CONTAINER
// when it is container id's. Pod, namespace and container names cannot
// hold "_", so the split is unambiguous.
func ParseKubeLogName(file, id string) (string, bool) {
	rest, ok := strings.CutSuffix(file, "-"+id+".log")
	if !ok {
		return "", false
	}
	f := strings.Split(rest, "_")
	if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
		return "", false
	}
	return f[1] + "/" + f[0] + "/" + f[2], true
}

// kubeName turns the name the Docker shim and CRI-O give a Kubernetes
// container, "k8s_CONTAINER_POD_NAMESPACE_UID_ATTEMPT", into
// NAMESPACE/POD/CONTAINER; other names come back as they are.
func kubeName(name string) string {
	f := strings.Split(name, "_")
	if len(f) != 6 || f[0] != "k8s" || f[1] == "" || f[2] == "" || f[3] == "" {
		return name
	}
	return f[3] + "/" + f[2] + "/" + f[1]
}
