package identity

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Options configure a Resolver. The zero value reads the host's files.
type Options struct {
	// Root is the directory /etc/passwd and the container runtimes'
	// state are under ("" for "/").
	Root string
	// Logger receives the refusals of container files, at most one a
	// container and one a second (default: discarded).
	Logger *slog.Logger
	// Now is the clock of the name cache's expiry and of the spacing of
	// logs (default time.Now). A lookup's deadline is in real time: it
	// bounds reads.
	Now func() time.Time
	// NameWait is how long Process waits, at a container's first
	// sighting and only when the naming worker is idle, for the
	// container's name (0: DefaultNameWait; negative: never). A process
	// is identified once, so without it the first process of a container
	// would keep the short ID.
	NameWait time.Duration
}

// Resolver reads the identity of processes. Users' accounts are cached,
// and containers' names are looked up by one worker goroutine, never by
// the caller, and cached by container. It is safe for concurrent use.
//
// The zero value identifies processes but names no container; NewResolver
// starts the naming worker, which Close stops.
type Resolver struct {
	users Users
	names *namer // nil: no container names
}

// NewResolver returns a Resolver with its naming worker started; Close
// stops it.
func NewResolver(o Options) *Resolver {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NameWait == 0 {
		o.NameWait = DefaultNameWait
	}
	r := &Resolver{users: Users{Root: o.Root}}
	names := &Names{Root: o.Root}
	r.names = newNamer(func(c model.Container, owner int, deadline time.Time) (string, error) {
		return names.Lookup(c, r.home(owner), deadline)
	}, o.Now, o.Logger, o.NameWait)
	return r
}

// Close stops the naming worker and blocks until it has exited: it
// finishes the lookup it is doing, which its deadline ends within a second
// unless a filesystem stalls a read (a user's FUSE home is never read for
// that reason). It is safe to call more than once, and on the zero value.
// Process still works after Close, with the names known by then.
func (r *Resolver) Close() error {
	if r.names != nil {
		r.names.close()
	}
	return nil
}

// Process reads the identity of the process whose /proc directory is
// procDir ("/proc/PID"). It returns nil when the process is gone or its
// files cannot be read. It reads at most 64 KiB of /proc/PID/cgroup and
// 8 KiB of /proc/PID/status, and never a container's files: a container
// whose name the worker has not found yet comes without it (at its first
// sighting, Process waits for it up to Options.NameWait).
func (r *Resolver) Process(procDir string) *model.Identity {
	cg, over, err := readProc(filepath.Join(procDir, "cgroup"), maxProcCgroup)
	if err != nil {
		return nil
	}
	if over { // drop the line cut short
		cg = cg[:bytes.LastIndexByte(cg, '\n')+1]
	}
	status, _, err := readProc(filepath.Join(procDir, "status"), maxProcStatus)
	if err != nil {
		return nil
	}
	uid, ok := ParseStatusUID(string(status))
	if !ok {
		return nil
	}
	id := &model.Identity{UID: uid}
	if a, ok := r.users.Lookup(uid); ok {
		id.User = safename.Clean(a.Name)
	}
	path, place, ok := ParseProcCgroup(string(cg))
	if !ok {
		return id
	}
	id.Cgroup = safename.CleanN(path, maxCgroupLen)
	id.Unit = safename.Clean(place.Unit)
	id.Container = place.Container
	if id.Container.ID != "" && r.names != nil {
		id.Container.Name = r.names.name(place.Container, place.OwnerUID)
	}
	return id
}

// home is the home of the user whose containers' files are there: owner
// from a user slice or user@UID.service (the naming worker calls it).
func (r *Resolver) home(owner int) Home {
	if owner <= 0 {
		return Home{}
	}
	a, ok := r.users.Lookup(owner)
	if !ok || !filepath.IsAbs(a.Home) {
		return Home{}
	}
	return Home{Dir: a.Home, UID: owner}
}
