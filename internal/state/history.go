package state

import (
	"fmt"
	"os"
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
}

// Day is one local day's counts.
type Day struct {
	Date   string // "2006-01-02"
	Counts counts
}

// readTotals reads the meta bucket and the cumulative totals.
func readTotals(tx *bolt.Tx) (*History, error) {
	meta, totals := tx.Bucket(bucketMeta), tx.Bucket(bucketTotals)
	if meta == nil || totals == nil {
		return nil, fmt.Errorf("not a bwmon state store: buckets %q and %q missing", bucketMeta, bucketTotals)
	}
	h := &History{Totals: make(counts)}
	var err error
	if h.Since, err = time.Parse(time.RFC3339Nano, string(meta.Get(keyCreated))); err != nil {
		return nil, fmt.Errorf("reading the creation time: %w", err)
	}
	if v := meta.Get(keyFlushed); v != nil {
		if h.Flushed, err = time.Parse(time.RFC3339Nano, string(v)); err != nil {
			return nil, fmt.Errorf("reading the flush time: %w", err)
		}
	}
	err = totals.ForEach(func(k, v []byte) error {
		t, err := decodeCounts(v)
		if err != nil {
			return fmt.Errorf("total %s: %w", k, err)
		}
		h.Totals[string(k)] = t
		return nil
	})
	return h, err
}

// readHistory reads the totals and the days from date from on.
func readHistory(tx *bolt.Tx, from string) (*History, error) {
	h, err := readTotals(tx)
	if err != nil {
		return nil, err
	}
	daily := tx.Bucket(bucketDaily)
	if daily == nil {
		return h, nil
	}
	c := daily.Cursor()
	for k, v := c.Seek([]byte(from)); k != nil; k, v = c.Next() {
		b := daily.Bucket(k)
		if v != nil || b == nil {
			continue
		}
		d := Day{Date: string(k), Counts: make(counts)}
		err := b.ForEach(func(key, val []byte) error {
			t, err := decodeCounts(val)
			if err != nil {
				return fmt.Errorf("day %s, %s: %w", k, key, err)
			}
			d.Counts[string(key)] = t
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.Days = append(h.Days, d)
	}
	return h, nil
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
	err := withDB(s.path, true, s.opts.LockTimeout, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) (err error) {
			h, err = readHistory(tx, fromDate)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	h.Totals = last
	h.merge(pending, fromDate)
	return h, nil
}

// merge adds the pending days on or after from to h.
func (h *History) merge(pending map[string]counts, from string) {
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
	}
	sort.Slice(h.Days, func(i, j int) bool { return h.Days[i].Date < h.Days[j].Date })
}

// ReadHistory reads the store in dir from the day of from (in loc) on,
// without writing: it works while an agent runs on the directory, waiting
// at most timeout for a flush in progress.
func ReadHistory(dir string, from time.Time, loc *time.Location, timeout time.Duration) (*History, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no state store: %w (is bwmon running with this [state] dir? see -config)", err)
	}
	var h *History
	err := withDB(path, true, timeout, func(db *bolt.DB) error {
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
