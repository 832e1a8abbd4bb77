package identity

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestResolverProcess(t *testing.T) {
	r := &Resolver{Root: "testdata/host"}
	tests := []struct {
		name, pid string
		want      *model.Identity
	}{
		{"systemd service", "100", &model.Identity{UID: 33, User: "www-data", Cgroup: "/system.slice/nginx.service", Unit: "nginx.service"}},
		{"docker container with its name", "200", &model.Identity{UID: 0, User: "root", Cgroup: "/system.slice/docker-" + dockerID + ".scope",
			Unit: "docker-" + dockerID + ".scope", Container: model.Container{Runtime: "docker", ID: dockerID, Name: "web"}}},
		{"rootless podman: a subordinate UID, the name from the owner's home", "300", &model.Identity{UID: 100998,
			Cgroup: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + rootlessID + ".scope/container",
			Unit:   "libpod-" + rootlessID + ".scope", Container: model.Container{Runtime: "podman", ID: rootlessID, Name: "alices-redis"}}},
		{"setuid: the effective user", "400", &model.Identity{UID: 0, User: "root", Cgroup: "/user.slice/user-1000.slice/session-3.scope", Unit: "session-3.scope"}},
		{"unreadable cgroup: the user only", "500", &model.Identity{UID: 1000, User: "alice"}},
		{"gone", "600", nil},
		{"no such process", "700", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Process(filepath.Join("testdata/proc", tt.pid))
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("Process(%s) =\n%+v\nwant\n%+v", tt.pid, got, tt.want)
			}
		})
	}
}

func TestResolverCachesContainerNames(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(root, "var/lib/docker/containers", dockerID, "config.v2.json")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`{"Name":"/web"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Root: root}
	if got := r.Process("testdata/proc/200"); got == nil || got.Container.Name != "web" {
		t.Fatalf("first read: %+v, want the name web", got)
	}
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if got := r.Process("testdata/proc/200"); got == nil || got.Container.Name != "web" {
		t.Fatalf("second read: %+v, want the cached name web", got)
	}
	if got := (&Resolver{Root: root}).Process("testdata/proc/200"); got == nil || got.Container.Name != "" {
		t.Fatalf("a fresh resolver: %+v, want no name (the file is gone)", got)
	}
}

// BenchmarkResolverProcess measures what identifying a process adds to
// reading it: two reads of /proc/self and the parsing, accounts cached.
func BenchmarkResolverProcess(b *testing.B) {
	if _, err := os.Stat("/proc/self/cgroup"); err != nil {
		b.Skip("no /proc/self/cgroup here")
	}
	r := &Resolver{}
	for b.Loop() {
		if r.Process("/proc/self") == nil {
			b.Fatal("no identity for this very process")
		}
	}
}
