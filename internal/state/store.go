package state

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/model"
)

// Options configure a Store.
type Options struct {
	// Dir is the state directory; it is created (mode 0700) if missing.
	Dir string
	// Flush is how often Consume's counts are written (default 30s).
	Flush time.Duration
	// KeepDays is how many days of daily totals to keep (default
	// DefaultKeepDays).
	KeepDays int
	// DayApps is how many apps each day keeps by name; the rest of the
	// day is folded into model.OtherApp (default
	// model.DefaultLimitDayApps).
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
	opts    Options
	log     *slog.Logger
	lock    *os.File
	created time.Time

	dbMu sync.Mutex // one open of the file at a time in this process

	mu      sync.Mutex // guards the fields below
	last    counts     // cumulative counts as of the last Consume
	pending map[string]counts
	dirty   bool // last changed since the last flush
	closed  bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the store in o.Dir and starts writing it every
// o.Flush. A store it cannot read is moved aside, logged, and replaced by a
// new one; Open fails only when the directory is unusable or another agent
// holds it.
func Open(o Options) (*Store, error) {
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.KeepDays <= 0 {
		o.KeepDays = DefaultKeepDays
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
	s := &Store{
		path:    filepath.Join(o.Dir, FileName),
		opts:    o,
		log:     o.Logger.With("component", "state"),
		pending: make(map[string]counts),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	lock, err := lockDir(filepath.Join(o.Dir, LockName))
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", o.Dir, err)
	}
	s.lock = lock
	if err := s.load(); err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			s.lock.Close()
			return nil, fmt.Errorf("opening %s: another process holds it open: %w", s.path, err)
		}
		moved, merr := s.moveAside()
		if merr != nil {
			s.lock.Close()
			return nil, fmt.Errorf("opening %s: %w; moving it aside: %w", s.path, err, merr)
		}
		s.log.Error("state store unreadable: moved it aside and began a new one, totals start again from zero",
			"path", s.path, "moved_to", moved, "err", err)
		if err := s.load(); err != nil {
			s.lock.Close()
			return nil, fmt.Errorf("creating %s: %w", s.path, err)
		}
	}
	s.log.Info("state store open", "path", s.path, "since", s.created.Format(time.RFC3339), "apps", len(s.last), "flush", o.Flush)
	go s.flushLoop()
	return s, nil
}

// load opens the file (creating it when missing), checks it, and reads the
// totals and the creation time. Any error but a lock timeout means the file
// is unusable.
func (s *Store) load() (err error) {
	defer func() {
		// bbolt panics on some corrupt pages rather than erring.
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the store: %v", r)
		}
	}()
	return s.withDB(false, func(db *bolt.DB) error {
		if err := db.Update(func(tx *bolt.Tx) error { return initSchema(tx, s.opts.Now()) }); err != nil {
			return err
		}
		return db.View(func(tx *bolt.Tx) error {
			var errs []error
			for e := range tx.Check() {
				errs = append(errs, e)
			}
			if len(errs) > 0 {
				return fmt.Errorf("consistency check: %w", errors.Join(errs...))
			}
			h, err := readTotals(tx)
			if err != nil {
				return err
			}
			s.created, s.last = h.Since, h.Totals
			return nil
		})
	})
}

// initSchema creates the buckets and the creation time of a new store, and
// refuses a store of another schema.
func initSchema(tx *bolt.Tx, now time.Time) error {
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
		return fmt.Errorf("store schema version %q, this bwmon reads %q", v, schemaVersion)
	}
	if meta.Get(keyCreated) == nil {
		if err := meta.Put(keyCreated, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
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

// moveAside renames the store to bwmon.db.corrupt-TIME and returns the new
// path.
func (s *Store) moveAside() (string, error) {
	stamp := strings.ReplaceAll(s.opts.Now().UTC().Format("20060102T150405.000Z"), ".", "")
	to := s.path + ".corrupt-" + stamp
	if err := os.Rename(s.path, to); err != nil {
		return "", err
	}
	return to, nil
}

// withDB opens the file for the length of f: readOnly takes a shared lock
// (readers may share), otherwise an exclusive one; either waits at most
// LockTimeout for the other kind to let go.
func (s *Store) withDB(readOnly bool, f func(db *bolt.DB) error) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	return withDB(s.path, readOnly, s.opts.LockTimeout, f)
}

func withDB(path string, readOnly bool, timeout time.Duration, f func(db *bolt.DB) error) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: timeout})
	if err != nil {
		return err
	}
	err = f(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Since returns when the store began: the start of its totals.
func (s *Store) Since() time.Time { return s.created }

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// Totals returns the cumulative totals as of the last Consume (at Open: as
// stored), in the form aggregator.Restore takes.
func (s *Store) Totals() (map[string]aggregator.Totals, map[model.Reason]model.UnattributedSum) {
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
	})
	return s.closeErr
}
