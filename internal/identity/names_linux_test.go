package identity

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
)

func TestNamesLookup(t *testing.T) {
	host := Names{Root: "testdata/host"}
	tests := []struct {
		name  string
		names Names
		c     model.Container
		home  Home
		want  string
	}{
		{"docker config.v2.json", host, model.Container{Runtime: "docker", ID: dockerID}, Home{}, "web"},
		{"docker data-root from daemon.json, k8s name", Names{Root: "testdata/dataroot"}, model.Container{Runtime: "docker", ID: dataRootID}, Home{}, "default/web-0/app"},
		{"docker unknown id", host, model.Container{Runtime: "docker", ID: podmanID}, Home{}, ""},
		{"podman containers.json", host, model.Container{Runtime: "podman", ID: podmanID}, Home{}, "db"},
		{"podman rootless, in the owner's home", host, model.Container{Runtime: "podman", ID: rootlessID}, Home{Dir: "/home/alice", UID: 1000}, "alices-redis"},
		{"podman rootless without the home", host, model.Container{Runtime: "podman", ID: rootlessID}, Home{}, ""},
		{"cri-o annotations", host, model.Container{Runtime: "cri-o", ID: crioID, PodUID: "9692aa0e-748e-11e8-8dfa-76d458035df6"}, Home{}, "shop/api-7d9f8c6b5-x2x4z/api"},
		{"cri-o from containers.json", host, model.Container{Runtime: "cri-o", ID: crioListedID}, Home{}, "shop/cache-0/cache"},
		{"containerd from the kubelet's log links", host, model.Container{Runtime: "containerd", ID: kubeID}, Home{}, "kube-system/coredns-5d78c9869d-abcde/coredns"},
		{"cgroupfs kubelet, runtime unknown", host, model.Container{Runtime: "cri", ID: kubeID}, Home{}, "kube-system/coredns-5d78c9869d-abcde/coredns"},
		{"a .log.tmp is no log link", host, model.Container{Runtime: "containerd", ID: dataRootID}, Home{}, ""},
		{"containerd outside kubernetes", host, model.Container{Runtime: "containerd", ID: dockerID}, Home{}, ""},
		{"no id", host, model.Container{Runtime: "docker"}, Home{}, ""},
		{"no such root", Names{Root: "testdata/nonexistent"}, model.Container{Runtime: "docker", ID: dockerID}, Home{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.names.Lookup(tt.c, tt.home, time.Now().Add(time.Second))
			if got != tt.want || err != nil {
				t.Fatalf("Lookup(%+v, %+v) = %q, %v; want %q, no error", tt.c, tt.home, got, err, tt.want)
			}
		})
	}
}

// withoutOpenat2 runs f as on a kernel without openat2 (before 5.6): the
// walk then opens each component with openat(O_NOFOLLOW).
func withoutOpenat2(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	was := noOpenat2.Load()
	noOpenat2.Store(true)
	defer noOpenat2.Store(was)
	f(t)
}

// bothWalks runs f with openat2 and with the openat walk.
func bothWalks(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", f)
	t.Run("openat", func(t *testing.T) { withoutOpenat2(t, f) })
}

// The security review's finding 1: files a user plants where a rootless
// container's name is read from (here the containers.json of their home)
// must not stall the lookup, grow bwmon's memory or be read at all.
func TestLookupRefusesHostileFiles(t *testing.T) {
	const rel = ".local/share/containers/storage/overlay-containers/containers.json"
	c := model.Container{Runtime: "podman", ID: rootlessID}
	tests := []struct {
		name     string
		root     bool // needs root (chown, mknod)
		plant    func(t *testing.T, h *fakeHost)
		want     string
		wantErr  error
		noReader bool // the file is a FIFO no one may hold open
	}{
		{name: "a regular file of the user: read", want: "alices-db",
			plant: func(t *testing.T, h *fakeHost) { h.writeHome(rel, storageJSON(rootlessID, "alices-db")) }},
		{name: "a FIFO", wantErr: errNotRegular, noReader: true, plant: func(t *testing.T, h *fakeHost) {
			h.mkdir(filepath.Dir(rel))
			if err := unix.Mkfifo(h.homePath(rel), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symbolic link to /dev/zero", wantErr: errSymlink, plant: func(t *testing.T, h *fakeHost) {
			h.mkdir(filepath.Dir(rel))
			if err := os.Symlink("/dev/zero", h.homePath(rel)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symbolic link to a good file elsewhere", wantErr: errSymlink, plant: func(t *testing.T, h *fakeHost) {
			other := filepath.Join(t.TempDir(), "containers.json")
			if err := os.WriteFile(other, []byte(storageJSON(rootlessID, "elsewhere")), 0o644); err != nil {
				t.Fatal(err)
			}
			h.mkdir(filepath.Dir(rel))
			if err := os.Symlink(other, h.homePath(rel)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symbolic link among the directories", wantErr: errSymlink, plant: func(t *testing.T, h *fakeHost) {
			other := t.TempDir()
			p := filepath.Join(other, "storage/overlay-containers/containers.json")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(storageJSON(rootlessID, "elsewhere")), 0o644); err != nil {
				t.Fatal(err)
			}
			h.mkdir(".local/share")
			if err := os.Symlink(other, h.homePath(".local/share/containers")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a file larger than its cap", wantErr: errTooLarge, plant: func(t *testing.T, h *fakeHost) {
			h.writeHome(rel, "")
			if err := os.Truncate(h.homePath(rel), maxStorageJSON+1); err != nil { // sparse
				t.Fatal(err)
			}
		}},
		{name: "a device", root: true, wantErr: errNotRegular, plant: func(t *testing.T, h *fakeHost) {
			h.mkdir(filepath.Dir(rel))
			if err := unix.Mknod(h.homePath(rel), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil { // /dev/zero's
				t.Fatal(err)
			}
		}},
		{name: "a file of another user", root: true, wantErr: errOwner, plant: func(t *testing.T, h *fakeHost) {
			h.writeHome(rel, storageJSON(rootlessID, "planted"))
			if err := os.Chown(h.homePath(rel), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a directory of another user", root: true, wantErr: errOwner, plant: func(t *testing.T, h *fakeHost) {
			h.writeHome(rel, storageJSON(rootlessID, "planted"))
			if err := os.Chown(h.homePath(filepath.Dir(rel)), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a home of another user", root: true, wantErr: errOwner, plant: func(t *testing.T, h *fakeHost) {
			h.writeHome(rel, storageJSON(rootlessID, "planted"))
			if err := os.Chown(h.homePath("."), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}},
	}
	bothWalks(t, func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.root {
					requireRoot(t)
				}
				h := newFakeHost(t)
				tt.plant(t, h)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				name, err := (&Names{Root: h.root}).Lookup(c, h.user, start.Add(time.Second))
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				if name != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("Lookup = %q, %v; want %q, %v", name, err, tt.want, tt.wantErr)
				}
				if took > quick {
					t.Errorf("Lookup took %v, want under %v", took, quick)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
					t.Errorf("Lookup allocated %d KiB, want under 1 MiB", grew>>10)
				}
				if tt.noReader {
					// A writer that does not wait finds no reader: the
					// lookup did not keep the FIFO open.
					fd, err := unix.Open(h.homePath(rel), unix.O_WRONLY|unix.O_NONBLOCK, 0)
					if err == nil {
						unix.Close(fd)
					}
					if !errors.Is(err, unix.ENXIO) {
						t.Fatalf("opening the FIFO to write: %v, want ENXIO (no reader)", err)
					}
				}
			})
		}
	})
}

// A rootful runtime's file must be root's (or bwmon's user's), a regular
// file, and within its cap.
func TestLookupRootfulFiles(t *testing.T) {
	cfg := filepath.Join("var/lib/docker/containers", dockerID, "config.v2.json")
	c := model.Container{Runtime: "docker", ID: dockerID}
	tests := []struct {
		name    string
		root    bool
		plant   func(t *testing.T, h *fakeHost)
		want    string
		wantErr error
	}{
		{name: "read", want: "web", plant: func(t *testing.T, h *fakeHost) { h.write(cfg, `{"Name":"/web"}`) }},
		{name: "a FIFO", wantErr: errNotRegular, plant: func(t *testing.T, h *fakeHost) {
			h.write(filepath.Join(filepath.Dir(cfg), "x"), "")
			if err := unix.Mkfifo(filepath.Join(h.root, cfg), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symbolic link", wantErr: errSymlink, plant: func(t *testing.T, h *fakeHost) {
			h.write(filepath.Join(filepath.Dir(cfg), "real.json"), `{"Name":"/web"}`)
			if err := os.Symlink("real.json", filepath.Join(h.root, cfg)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "larger than its cap", wantErr: errTooLarge, plant: func(t *testing.T, h *fakeHost) {
			h.write(cfg, "")
			if err := os.Truncate(filepath.Join(h.root, cfg), maxConfigJSON+1); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "owned by a user", root: true, wantErr: errOwner, plant: func(t *testing.T, h *fakeHost) {
			h.write(cfg, `{"Name":"/web"}`)
			if err := os.Chown(filepath.Join(h.root, cfg), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			h := newFakeHost(t)
			tt.plant(t, h)
			start := time.Now()
			name, err := (&Names{Root: h.root}).Lookup(c, Home{}, start.Add(time.Second))
			if name != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Lookup = %q, %v; want %q, %v", name, err, tt.want, tt.wantErr)
			}
			if took := time.Since(start); took > quick {
				t.Errorf("Lookup took %v, want under %v", took, quick)
			}
		})
	}
}

// A lookup whose deadline passed reads nothing more.
func TestLookupDeadline(t *testing.T) {
	h := newFakeHost(t)
	h.write(filepath.Join("var/lib/docker/containers", dockerID, "config.v2.json"), `{"Name":"/web"}`)
	clock := newFakeClock()
	n := &Names{Root: h.root, Now: clock.Now}
	name, err := n.Lookup(model.Container{Runtime: "docker", ID: dockerID}, Home{}, clock.Now())
	if name != "" || !errors.Is(err, errDeadline) {
		t.Fatalf("Lookup past its deadline = %q, %v; want nothing, %v", name, err, errDeadline)
	}
	name, err = n.Lookup(model.Container{Runtime: "docker", ID: dockerID}, Home{}, clock.Now().Add(time.Second))
	if name != "web" || err != nil {
		t.Fatalf("Lookup in time = %q, %v; want web", name, err)
	}
}
