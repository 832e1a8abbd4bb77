package state

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// History is what a store holds: the cumulative totals and the days.
type History struct {
	// Since is when the store began; Flushed when it was last written
	// (zero before the first flush).
	Since, Flushed time.Time
	// Totals holds the cumulative counts, keyed as in the store.
	Totals counts
	// Days holds the daily counts from the first day asked for, oldest
	// first.
	Days []Day
	// Repaired counts the names read from the file that were not clean
	// (an older bwmon saved them raw): they are read under their clean
	// form, counts merged. Dropped counts the records, days and times
	// that could not be decoded: they are left out. An agent repairs its
	// file when it opens it.
	Repaired, Dropped int
}

// Day is one local day's counts.
type Day struct {
	Date   string // "2006-01-02"
	Counts counts
}

// readTotals reads the meta bucket and the cumulative totals, counting in
// rep what it repairs or drops: a time it cannot read is zero.
func readTotals(tx *bolt.Tx, rep *repairs) (*History, error) {
	meta, totals := tx.Bucket(bucketMeta), tx.Bucket(bucketTotals)
	if meta == nil || totals == nil {
		return nil, fmt.Errorf("not a bwmon state store: buckets %q and %q missing", bucketMeta, bucketTotals)
	}
	h := &History{}
	var err error
	if h.Since, err = time.Parse(time.RFC3339Nano, string(meta.Get(keyCreated))); err != nil {
		rep.Dropped++
	}
	if v := meta.Get(keyFlushed); v != nil {
		if h.Flushed, err = time.Parse(time.RFC3339Nano, string(v)); err != nil {
			rep.Dropped++
		}
	}
	h.Totals, _ = readCounts(totals, rep)
	return h, nil
}

// readHistory reads the totals and the days from date from on. Records
// and days it cannot decode are left out and counted in h.Dropped, names
// that are not clean are made clean and counted in h.Repaired.
func readHistory(tx *bolt.Tx, from string) (*History, error) {
	var rep repairs
	h, err := readTotals(tx, &rep)
	if err != nil {
		return nil, err
	}
	if daily := tx.Bucket(bucketDaily); daily != nil {
		c := daily.Cursor()
		for k, v := c.Seek([]byte(from)); k != nil; k, v = c.Next() {
			b := daily.Bucket(k)
			if v != nil || b == nil || !validDate(k) {
				rep.Dropped++
				continue
			}
			d := Day{Date: string(k)}
			d.Counts, _ = readCounts(b, &rep)
			h.Days = append(h.Days, d)
		}
	}
	h.Repaired, h.Dropped = rep.Repaired, rep.Dropped
	return h, nil
}

// Clock returns the store's time now and the location its days begin in:
// what a "since" (see ParseSince) is read against.
func (s *Store) Clock() (time.Time, *time.Location) {
	return s.opts.Now(), s.opts.Location
}

// History returns what the store holds from the local day of from on,
// including what was counted but not yet written: the same answer a flush
// now would leave on disk.
func (s *Store) History(from time.Time) (*History, error) {
	fromDate := dateOf(from, s.opts.Location)
	// Under dbMu, as Flush: the pending counts and the file agree.
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	pending := make(map[string]counts, len(s.pending))
	for date, day := range s.pending {
		pending[date] = day.clone()
	}
	last := s.last.clone()
	s.mu.Unlock()

	var h *History
	err := withDB(s.dir, true, s.opts.LockTimeout, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) (err error) {
			h, err = readHistory(tx, fromDate)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	h.Totals = last
	h.merge(pending, fromDate, s.opts.DayApps)
	return h, nil
}

// merge adds the pending days on or after from to h, and folds the days
// it adds to to dayApps apps, as the flush will.
func (h *History) merge(pending map[string]counts, from string, dayApps int) {
	byDate := make(map[string]int, len(h.Days))
	for i, d := range h.Days {
		byDate[d.Date] = i
	}
	for date, day := range pending {
		if date < from {
			continue
		}
		i, ok := byDate[date]
		if !ok {
			h.Days = append(h.Days, Day{Date: date, Counts: make(counts)})
			i = len(h.Days) - 1
			byDate[date] = i
		}
		for k, t := range day {
			h.Days[i].Counts.add(k, t.In, t.Out)
		}
		foldDay(h.Days[i].Counts, dayApps, nil)
	}
	sort.Slice(h.Days, func(i, j int) bool { return h.Days[i].Date < h.Days[j].Date })
}

// ReadHistory reads the store in dir from the day of from (in loc) on,
// without writing: it works while an agent runs on the directory, waiting
// at most timeout for a flush in progress. It follows no symlink in dir,
// repairs names and skips records as History does (see History.Repaired),
// and a file so damaged that bbolt panics is an error, not a crash.
func ReadHistory(dir string, from time.Time, loc *time.Location, timeout time.Duration) (*History, error) {
	path := filepath.Join(dir, FileName)
	d, err := openDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no state store: %w (is bwmon running with this [state] dir? see -config)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the state directory: %w (the agent's directory is its own: read it as root or as the agent's user)", err)
	}
	defer d.Close()
	if ok, err := d.exists(FileName); err != nil || !ok {
		if err == nil {
			err = &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return nil, fmt.Errorf("no state store: %w (is bwmon running with this [state] dir? see -config)", err)
	}
	var h *History
	err = withDB(d, true, timeout, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) (err error) {
			h, err = readHistory(tx, dateOf(from, loc))
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return h, nil
}
