package identity

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Names finds containers' names in the runtimes' own files under Root; it
// asks no daemon. A lookup reads a few files, each opened and bounded as
// doc.go says, and can take up to its deadline: call it off the hot path
// (Resolver does, in its naming worker, and caches the result).
type Names struct {
	// Root is the directory the runtimes' state is under ("" for "/").
	Root string
	// Now is the clock deadlines are measured with (nil: time.Now).
	Now func() time.Time
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

// Lookup returns c's name, or "" when no file tells it. home is the home of
// the user a rootless container belongs to (zero for none). The error is
// the first file refused or unreadable (a file that does not exist is no
// error); a name found elsewhere still comes back. The reads stop at
// deadline (zero: none).
func (n *Names) Lookup(c model.Container, home Home, deadline time.Time) (string, error) {
	if !isID(c.ID) { // the ID becomes a path component
		return "", nil
	}
	now := n.Now
	if now == nil {
		now = time.Now
	}
	l := &lookup{root: rootDir(n.Root), home: home, b: budget{until: deadline, now: now}}
	if home.Dir != "" && !filepath.IsAbs(home.Dir) {
		l.home.Dir = ""
	}
	return l.name(c), l.err
}

// lookup is one container's name lookup: it keeps the first error.
type lookup struct {
	root string
	home Home
	b    budget
	err  error
}

func (l *lookup) name(c model.Container) string {
	if c.PodUID != "" || c.Runtime == "cri" || c.Runtime == "containerd" || c.Runtime == "cri-o" {
		if name := l.kubeLog(c.ID); name != "" {
			return name
		}
	}
	switch c.Runtime {
	case "docker":
		if b := l.read(filepath.Join(l.dockerDataRoot(), "containers", c.ID, "config.v2.json"), maxConfigJSON); b != nil {
			if name := ParseDockerConfig(b); name != "" {
				return name
			}
		}
		if b := l.readHome(path.Join(rootlessDocker, "containers", c.ID, "config.v2.json"), maxConfigJSON); b != nil {
			return ParseDockerConfig(b)
		}
	case "cri-o":
		if b := l.read(filepath.Join(l.root, storageRoot, "overlay-containers", c.ID, "userdata", "config.json"), maxConfigJSON); b != nil {
			if name := ParseCRIOConfig(b); name != "" {
				return name
			}
		}
		return l.storageName(c.ID, false)
	case "podman":
		if name := l.storageName(c.ID, true); name != "" {
			return name
		}
		return l.storageName(c.ID, false)
	}
	return ""
}

// dockerDataRoot is /var/lib/docker, or the "data-root" daemon.json sets.
func (l *lookup) dockerDataRoot() string {
	if b := l.read(filepath.Join(l.root, dockerDaemonJSON), maxDaemonJSON); b != nil {
		var cfg struct {
			DataRoot string `json:"data-root"`
		}
		if json.Unmarshal(b, &cfg) == nil && filepath.IsAbs(cfg.DataRoot) {
			return filepath.Join(l.root, cfg.DataRoot)
		}
	}
	return filepath.Join(l.root, dockerRoot)
}

// storageName looks id up in a containers/storage containers.json (the
// overlay driver's, else vfs's): the rootless user's (inHome) or the
// host's.
func (l *lookup) storageName(id string, inHome bool) string {
	for _, driver := range []string{"overlay", "vfs"} {
		var b []byte
		if inHome {
			b = l.readHome(path.Join(rootlessStorage, driver+"-containers", "containers.json"), maxStorageJSON)
		} else {
			b = l.read(filepath.Join(l.root, storageRoot, driver+"-containers", "containers.json"), maxStorageJSON)
		}
		if name := ParseStorageContainers(b, id); name != "" {
			return name
		}
	}
	return ""
}

// kubeLog finds id among the kubelet's /var/log/containers links.
func (l *lookup) kubeLog(id string) string {
	if l.b.over() {
		l.fail(errDeadline)
		return ""
	}
	names, err := listDir(filepath.Join(l.root, kubeLogs), maxLogLinks, l.b)
	if err != nil {
		l.fail(err)
		return ""
	}
	for _, f := range names {
		if name, ok := ParseKubeLogName(f, id); ok {
			return name
		}
	}
	return ""
}

// read reads a file outside users' homes, or returns nil.
func (l *lookup) read(path string, limit int64) []byte {
	if l.b.over() {
		l.fail(errDeadline)
		return nil
	}
	b, err := readTrusted(path, limit, l.b)
	l.fail(err)
	return b
}

// readHome reads rel under the rootless user's home, or returns nil.
func (l *lookup) readHome(rel string, limit int64) []byte {
	if l.home.Dir == "" {
		return nil
	}
	if l.b.over() {
		l.fail(errDeadline)
		return nil
	}
	b, err := readInHome(l.root, l.home, rel, limit, l.b)
	l.fail(err)
	return b
}

// fail keeps err when it is the first that tells of a problem: a file that
// does not exist is none.
func (l *lookup) fail(err error) {
	if err != nil && l.err == nil && !errors.Is(err, fs.ErrNotExist) {
		l.err = err
	}
}

func rootDir(root string) string {
	if root == "" {
		return "/"
	}
	return root
}
