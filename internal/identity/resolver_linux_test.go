package identity

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

func TestResolverProcess(t *testing.T) {
	nettest.CheckGoroutines(t)
	// NameWait long enough for a loaded machine: Process waits only until
	// each lookup ends.
	r := NewResolver(Options{Root: "testdata/host", NameWait: 5 * time.Second})
	defer r.Close()
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

// The zero Resolver identifies processes but names no container: it has no
// worker to do it.
func TestZeroResolverNamesNoContainer(t *testing.T) {
	var r Resolver
	got := r.Process("testdata/proc/200")
	want := model.Container{Runtime: "docker", ID: dockerID}
	if got == nil || got.Container != want {
		t.Fatalf("Process = %+v, want container %+v without a name", got, want)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// What identity hands out from a user's cgroup path is clean.
func TestResolverCleansWhatItHandsOut(t *testing.T) {
	nettest.CheckGoroutines(t)
	h := newFakeHost(t)
	r := NewResolver(Options{Root: h.root})
	defer r.Close()
	unit := "evil\x1b[2J\u202e\xff.service"
	got := r.Process(h.process(1, "/user.slice/user-1000.slice/user@1000.service/app.slice/"+unit, 1000))
	if got == nil || got.Unit != `evil\x1b[2J\u202e\xff.service` || !strings.HasSuffix(got.Cgroup, `/evil\x1b[2J\u202e\xff.service`) {
		t.Fatalf("Process = %+v, want the unit and cgroup escaped", got)
	}
}

// A container's name is looked up by the worker, not by the caller: the
// caller gets no name (so the short ID shows) until the worker found it,
// then the cached name, and a renamed container after the cache's expiry.
func TestResolverNamesAsynchronously(t *testing.T) {
	nettest.CheckGoroutines(t)
	h := newFakeHost(t)
	cfg := filepath.Join("var/lib/docker/containers", dockerID, "config.v2.json")
	h.write(cfg, `{"Name":"/web"}`)
	clock := newFakeClock()
	r := NewResolver(Options{Root: h.root, Now: clock.Now, NameWait: -1})
	defer r.Close()
	proc := h.process(1, "/system.slice/docker-"+dockerID+".scope", 0)

	if got := r.Process(proc); got == nil || got.Container.Name != "" || got.Container.Label() != dockerID[:12] {
		t.Fatalf("first sighting: %+v, want no name yet (the short ID)", got)
	}
	eventually(t, "the name web arrives", func() bool { return r.Process(proc).Container.Name == "web" })

	if err := os.Remove(filepath.Join(h.root, cfg)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := r.Process(proc).Container.Name; got != "web" {
			t.Fatalf("with the file gone, Process gave %q; want the cached web", got)
		}
	}

	h.write(cfg, `{"Name":"/web-renamed"}`)
	clock.Advance(foundTTL)
	if got := r.Process(proc).Container.Name; got != "web" {
		t.Fatalf("past the expiry, the old name is served while it is looked up again; got %q", got)
	}
	eventually(t, "the new name arrives", func() bool { return r.Process(proc).Container.Name == "web-renamed" })
}

// With its default NameWait, the first process of a container usually gets
// the name at once: a process is identified only once.
func TestResolverWaitsBrieflyAtFirstSighting(t *testing.T) {
	nettest.CheckGoroutines(t)
	h := newFakeHost(t)
	h.write(filepath.Join("var/lib/docker/containers", dockerID, "config.v2.json"), `{"Name":"/web"}`)
	r := NewResolver(Options{Root: h.root, NameWait: 5 * time.Second})
	defer r.Close()
	if got := r.Process(h.process(1, "/system.slice/docker-"+dockerID+".scope", 0)); got == nil || got.Container.Name != "web" {
		t.Fatalf("Process = %+v, want the name web at once", got)
	}
}

// Finding 1 end to end: a FIFO in a rootless user's home where the name is
// read from. Identifying the container's processes returns at once, the
// refusal is logged once, and the worker goes on naming other containers.
func TestResolverFIFOInAUsersHome(t *testing.T) {
	nettest.CheckGoroutines(t)
	h := newFakeHost(t)
	rel := ".local/share/containers/storage/overlay-containers/containers.json"
	h.mkdir(filepath.Dir(rel))
	if err := unix.Mkfifo(h.homePath(rel), 0o644); err != nil {
		t.Fatal(err)
	}
	h.write(filepath.Join("var/lib/docker/containers", dockerID, "config.v2.json"), `{"Name":"/web"}`)
	var logs logBuffer
	clock := newFakeClock()
	r := NewResolver(Options{Root: h.root, Logger: logs.logger(), Now: clock.Now})
	defer r.Close()

	evil := h.process(1, h.rootlessCgroup(rootlessID), h.user.UID+99999)
	for i := range 20 {
		start := time.Now()
		got := r.Process(evil)
		if took := time.Since(start); took > quick {
			t.Fatalf("Process %d took %v, want under %v", i, took, quick)
		}
		if got == nil || got.Container.ID != rootlessID || got.Container.Name != "" {
			t.Fatalf("Process = %+v, want the container without a name", got)
		}
		clock.Advance(missTTL) // each sighting looks it up again
		time.Sleep(time.Millisecond)
	}
	eventually(t, "a rootful container is named: the worker is not stuck", func() bool {
		return r.Process(h.process(2, "/system.slice/docker-"+dockerID+".scope", 0)).Container.Name == "web"
	})
	fd, err := unix.Open(h.homePath(rel), unix.O_WRONLY|unix.O_NONBLOCK, 0)
	if err == nil {
		unix.Close(fd)
	}
	if !errors.Is(err, unix.ENXIO) {
		t.Fatalf("opening the FIFO to write: %v, want ENXIO (no reader holds it)", err)
	}
	start := time.Now()
	r.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	lines := logs.lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "not a regular file") || !strings.Contains(lines[0], rootlessID[:12]) {
		t.Fatalf("logs = %q, want one line for the container, telling of the FIFO", lines)
	}
}

// Hostile /proc files (a test tree's stand-ins: procfs itself has neither)
// are read within their caps and never waited on.
func TestResolverBoundsProcReads(t *testing.T) {
	h := newFakeHost(t)
	r := NewResolver(Options{Root: h.root})
	defer r.Close()

	huge := h.process(1, "/system.slice/a.service", 1000)
	f, err := os.OpenFile(filepath.Join(huge, "cgroup"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("1:name=systemd:/" + strings.Repeat("x", maxProcCgroup) + "\n")
	f.Close()
	if err := os.Truncate(filepath.Join(huge, "status"), 1<<30); err != nil { // sparse, all zeros after the Uid line
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := r.Process(huge)
	runtime.ReadMemStats(&after)
	if got == nil || got.Unit != "a.service" || got.UID != 1000 {
		t.Fatalf("Process = %+v, want a.service of uid 1000 from the first bytes", got)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Process allocated %d KiB, want under 1 MiB", grew>>10)
	}

	fifo := h.process(2, "/system.slice/a.service", 1000)
	os.Remove(filepath.Join(fifo, "status"))
	if err := unix.Mkfifo(filepath.Join(fifo, "status"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := r.Process(fifo); got != nil {
		t.Fatalf("Process with a FIFO for its status = %+v, want nil", got)
	}
	if took := time.Since(start); took > quick {
		t.Errorf("Process took %v, want under %v", took, quick)
	}
}

// Close stops the worker: no goroutine is left, even with lookups queued,
// and Close may be called again.
func TestResolverCloseStopsTheWorker(t *testing.T) {
	nettest.CheckGoroutines(t)
	h := newFakeHost(t)
	r := NewResolver(Options{Root: h.root, NameWait: -1})
	for i := range 50 {
		id := strings.Repeat(string("0123456789abcdef"[i%16]), 63) + string("0123456789abcdef"[i/16])
		r.Process(h.process(i+1, "/system.slice/docker-"+id+".scope", 0))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.Process(h.process(99, "/system.slice/docker-"+dockerID+".scope", 0)); got == nil || got.Container.Name != "" {
		t.Fatalf("Process after Close = %+v, want the container, unnamed", got)
	}
}

// BenchmarkResolverProcess measures what identifying a process adds to
// reading it: two reads of /proc/self and the parsing, accounts cached.
func BenchmarkResolverProcess(b *testing.B) {
	if _, err := os.Stat("/proc/self/cgroup"); err != nil {
		b.Skip("no /proc/self/cgroup here")
	}
	r := NewResolver(Options{})
	defer r.Close()
	for b.Loop() {
		if r.Process("/proc/self") == nil {
			b.Fatal("no identity for this very process")
		}
	}
}
