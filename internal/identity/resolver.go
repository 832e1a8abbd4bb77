package identity

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/bwmon/bwmon/model"
)

// Resolver reads the identity of processes, caching what is costly: user
// accounts and container names (by container ID, so each container's files
// are read once). The zero value reads the host's files; it is safe for
// concurrent use.
type Resolver struct {
	// Root is the directory /etc/passwd and the container runtimes'
	// state are under ("" for "/"). Set it before the first call.
	Root string

	mu    sync.Mutex
	users *Users
	names map[string]string // container ID → name ("" when none found)
}

// maxNames bounds the container-name cache; when full it starts afresh
// (containers come and go, and a lookup is a few file reads).
const maxNames = 4096

// Process reads the identity of the process whose /proc directory is
// procDir ("/proc/PID"). It returns nil when the process is gone or its
// files cannot be read.
func (r *Resolver) Process(procDir string) *model.Identity {
	cg, err := os.ReadFile(filepath.Join(procDir, "cgroup"))
	if err != nil {
		return nil
	}
	status, err := os.ReadFile(filepath.Join(procDir, "status"))
	if err != nil {
		return nil
	}
	uid, ok := ParseStatusUID(string(status))
	if !ok {
		return nil
	}
	id := &model.Identity{UID: uid}
	users := r.accounts()
	if a, ok := users.Lookup(uid); ok {
		id.User = a.Name
	}
	path, place, ok := ParseProcCgroup(string(cg))
	if !ok {
		return id
	}
	id.Cgroup, id.Unit, id.Container = path, place.Unit, place.Container
	if id.Container.ID != "" {
		id.Container.Name = r.containerName(place, users)
	}
	return id
}

func (r *Resolver) accounts() *Users {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.users == nil {
		r.users = &Users{Root: r.Root}
	}
	return r.users
}

// containerName returns the cached name of place's container, looking it
// up on a miss.
func (r *Resolver) containerName(place Place, users *Users) string {
	c := place.Container
	r.mu.Lock()
	name, ok := r.names[c.ID]
	r.mu.Unlock()
	if ok {
		return name
	}
	home := ""
	if place.OwnerUID > 0 {
		if a, ok := users.Lookup(place.OwnerUID); ok {
			home = a.Home
		}
	}
	name = (&Names{Root: r.Root}).Lookup(c, home)
	r.mu.Lock()
	if r.names == nil || len(r.names) >= maxNames {
		r.names = make(map[string]string)
	}
	r.names[c.ID] = name
	r.mu.Unlock()
	return name
}
