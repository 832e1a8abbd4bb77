package identity

import (
	"encoding/json"
	"strings"

	"github.com/bwmon/bwmon/internal/safename"
)

// The parsers of the runtimes' files. Whoever can start a container (or,
// in Kubernetes, a pod) chooses what they hold, so each name they return has
// been through safename.Clean: valid UTF-8, controls and bidi characters
// escaped, at most safename.MaxLen bytes.

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
	return safename.Clean(kubeName(strings.TrimPrefix(cfg.Name, "/")))
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
			return safename.Clean(kubeName(c.Names[0]))
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
		return safename.Clean(ns + "/" + pod + "/" + ctr)
	}
	if full := a["io.kubernetes.cri-o.ContainerName"]; strings.HasPrefix(full, "k8s_") {
		return safename.Clean(kubeName(full))
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
	return safename.Clean(f[1] + "/" + f[0] + "/" + f[2]), true
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
