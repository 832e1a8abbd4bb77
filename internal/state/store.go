package state

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/bwmon/bwmon/model"
)

// Options configure a Store.
type Options struct {
	// Dir is the state directory; it is created (mode 0700) if missing.
	// It must belong to the agent's user or root and be writable by no one
	// else; a symlink to it is followed only where no one else could have
	// planted it.
	Dir string
	// Flush is how often Consume's counts are written (default 30s).
	Flush time.Duration
	// KeepDays is how many days of daily totals to keep (default
	// DefaultKeepDays).
	KeepDays int
	// DayApps is how many apps each day keeps by name; the smallest of the
	// day beyond them are folded into model.OtherApp, keeping their bytes
	// (default model.DefaultLimitDayApps).
	DayApps int
	// LockTimeout bounds the wait for a reader (`bwmon report`) to let go
	// of the file (default 5s).
	LockTimeout time.Duration
	// Logger receives the store's logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now); Location is where days begin
	// (default time.Local).
	Now      func() time.Time
	Location *time.Location
}

// DefaultFlush is how often a Store writes by default.
const DefaultFlush = 30 * time.Second

// Store is an agent's state: the totals it began with, and what it counted
// since, written every flush interval. Its methods are safe for concurrent
// use.
type Store struct {
	path    string
	dir     *stateDir // the checked directory the files are opened in
	opts    Options
	log     *slog.Logger
	lock    *os.File
	created time.Time

	dbMu sync.Mutex // one open of the file at a time in this process; taken before mu

	mu      sync.Mutex // guards the fields below
	last    counts     // cumulative counts as of the last Consume: the apps the aggregator holds
	pending map[string]counts
	// fileNames holds, for the newest days written, the app keys the
	// file's day keeps (foldPendingLocked ranks them first).
	fileNames map[string]map[string]struct{}
	dirty     bool // last changed since the last flush
	closed    bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the store in o.Dir and starts writing it every
// o.Flush. The directory must be the agent's own (see openDir). A store it
// cannot read is moved aside, logged, and replaced by a new one (the newest
// MaxCorruptCopies copies are kept); records it can read only in part are
// repaired with one warning. Open fails only when the directory is unusable
// or another agent holds it.
func Open(o Options) (*Store, error) {
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.KeepDays <= 0 {
		o.KeepDays = DefaultKeepDays
	}
	if o.DayApps <= 0 {
		o.DayApps = model.DefaultLimitDayApps
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w (set [state] dir to a directory bwmon may write, or dir = \"\" to keep no state)", err)
	}
	dir, err := openDir(o.Dir, true)
	if err != nil {
		return nil, fmt.Errorf("opening the state directory: %w", err)
	}
	s := &Store{
		path:      filepath.Join(o.Dir, FileName),
		dir:       dir,
		opts:      o,
		log:       o.Logger.With("component", "state"),
		pending:   make(map[string]counts),
		fileNames: make(map[string]map[string]struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	lock, err := dir.lock()
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("state directory %s: %w", o.Dir, err)
	}
	s.lock = lock
	fail := func(err error) (*Store, error) {
		s.lock.Close()
		s.dir.Close()
		return nil, err
	}
	rep, err := s.load()
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fail(fmt.Errorf("opening %s: another process holds it open: %w", s.path, err))
		}
		moved, merr := s.moveAside()
		if merr != nil {
			return fail(fmt.Errorf("opening %s: %w; moving it aside: %w", s.path, err, merr))
		}
		s.log.Error("state store unreadable: moved it aside and began a new one, totals start again from zero",
			"path", s.path, "moved_to", moved, "err", err)
		if rep, err = s.load(); err != nil {
			return fail(fmt.Errorf("creating %s: %w", s.path, err))
		}
	}
	switch {
	case rep.Repaired+rep.Dropped > 0:
		s.log.Warn("state store repaired: names that were not clean are kept under their clean form, records that could not be read are dropped",
			"path", s.path, "names_repaired", rep.Repaired, "records_dropped", rep.Dropped, "apps_folded", rep.Folded, "day_apps", o.DayApps)
	case rep.Folded > 0:
		s.log.Info("state store days folded to day_apps apps", "path", s.path, "apps_folded", rep.Folded, "day_apps", o.DayApps)
	}
	s.log.Info("state store open", "path", s.path, "since", s.created.Format(time.RFC3339), "apps", len(s.last), "flush", o.Flush, "day_apps", o.DayApps)
	go s.flushLoop()
	return s, nil
}

// load opens the file (creating it when missing), checks it, repairs what
// it can read only in part (repairStore), and reads the totals and the
// creation time. Any error but a lock timeout means the file is unusable.
func (s *Store) load() (rep repairs, err error) {
	err = s.withDB(false, func(db *bolt.DB) error {
		err := db.View(func(tx *bolt.Tx) error {
			var errs []error
			for e := range tx.Check() {
				errs = append(errs, e)
			}
			if len(errs) > 0 {
				return fmt.Errorf("consistency check: %w", errors.Join(errs...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error {
			if err := initSchema(tx, s.opts.Now(), &rep); err != nil {
				return err
			}
			newest, err := repairStore(tx, s.opts.DayApps, &rep)
			if err != nil {
				return err
			}
			h, err := readTotals(tx, &repairs{})
			if err != nil {
				return err
			}
			s.created, s.last = h.Since, h.Totals
			s.rememberFileNamesLocked(newest)
			return nil
		})
	})
	return rep, err
}

// initSchema creates the buckets and the creation time of a new store
// (or one whose time cannot be read), and refuses a store of another
// schema.
func initSchema(tx *bolt.Tx, now time.Time, rep *repairs) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch v := meta.Get(keyVersion); {
	case v == nil:
		if err := meta.Put(keyVersion, []byte(schemaVersion)); err != nil {
			return err
		}
	case string(v) != schemaVersion:
		return fmt.Errorf("store schema version %.32q, this bwmon reads %q", v, schemaVersion)
	}
	if v := meta.Get(keyCreated); v == nil || !validTime(v) {
		if v != nil {
			rep.Dropped++
		}
		if err := meta.Put(keyCreated, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
	}
	if v := meta.Get(keyFlushed); v != nil && !validTime(v) {
		rep.Dropped++
		if err := meta.Delete(keyFlushed); err != nil {
			return err
		}
	}
	for _, b := range [][]byte{bucketTotals, bucketDaily} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func validTime(v []byte) bool {
	_, err := time.Parse(time.RFC3339Nano, string(v))
	return err == nil
}

// withDB opens the file for the length of f: readOnly takes a shared lock
// (readers may share), otherwise an exclusive one; either waits at most
// LockTimeout for the other kind to let go.
func (s *Store) withDB(readOnly bool, f func(db *bolt.DB) error) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	return withDB(s.dir, readOnly, s.opts.LockTimeout, f)
}

// ErrDamaged is what reading a store so damaged that bbolt panics returns
// (wrapped). An agent that meets it at Open moves the file aside.
var ErrDamaged = errors.New("the store file is damaged")

// withDB opens the store in dir for the length of f, through dir (no
// symlink followed). bbolt panics on some damaged pages rather than
// erring, and may fault reading its mapping of a damaged file: both end
// here as an error wrapping ErrDamaged, the file closed.
func withDB(dir *stateDir, readOnly bool, timeout time.Duration, f func(db *bolt.DB) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v)", ErrDamaged, r)
			if db != nil {
				_ = db.Close()
			}
		}
	}()
	db, err = bolt.Open(filepath.Join(dir.path, FileName), 0o600,
		&bolt.Options{ReadOnly: readOnly, Timeout: timeout, OpenFile: dir.boltOpener(FileName)})
	if err != nil {
		return err
	}
	err = f(db)
	cerr := db.Close()
	db = nil
	if err == nil {
		err = cerr
	}
	return err
}

// Since returns when the store began: the start of its totals.
func (s *Store) Since() time.Time { return s.created }

// Totals returns the cumulative totals as of the last Consume (at Open: as
// stored), in the form aggregator.Restore takes.
func (s *Store) Totals() (map[string]model.Totals, map[model.Reason]model.UnattributedSum) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.split()
}

func (s *Store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.Flush)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Flush(); err != nil {
				s.log.Error("writing state; will retry at the next flush", "path", s.path, "err", err)
			}
		}
	}
}

// Close stops the periodic flush, writes what is pending, and lets go of
// the directory. It blocks until the write is done and is safe to call more
// than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.closeErr = s.Flush()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if err := s.lock.Close(); s.closeErr == nil {
			s.closeErr = err
		}
		s.dir.Close()
	})
	return s.closeErr
}
