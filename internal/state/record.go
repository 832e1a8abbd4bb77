package state

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/model"
)

// errClosed is returned by the methods of a closed Store.
var errClosed = errors.New("state store closed")

// Consume implements aggregator.Consumer: it adds what each app, each
// unattributed reason and the forwarded section moved since the previous
// Snapshot to the bucket of
// the Snapshot's local day. It only touches memory.
func (s *Store) Consume(snap *model.Snapshot) {
	date := dateOf(snap.Time, s.opts.Location)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, a := range snap.Apps {
		s.record(date, appKey(a.App), a.BytesIn, a.BytesOut)
	}
	for r, sum := range snap.Unattributed.Reasons {
		s.record(date, unattKey(r), sum.BytesIn, sum.BytesOut)
	}
	s.recordForwarded(date, snap.Forwarded)
}

// record books the cumulative counts in, out of key: the difference to the
// last ones goes to the day. Counts that went down (an aggregator that was
// not restored) are taken as the new base, never as a negative delta.
func (s *Store) record(date, key string, in, out uint64) {
	prev, ok := s.last[key]
	if ok && prev.In == in && prev.Out == out {
		return
	}
	var dIn, dOut uint64
	if in >= prev.In {
		dIn = in - prev.In
	}
	if out >= prev.Out {
		dOut = out - prev.Out
	}
	s.last[key] = totalsOf(in, out)
	s.dirty = true
	if dIn == 0 && dOut == 0 {
		return
	}
	day := s.pending[date]
	if day == nil {
		day = make(counts)
		s.pending[date] = day
	}
	day.add(key, dIn, dOut)
}

// Flush writes the pending counts now, in one transaction: the cumulative
// totals, the days' additions, and the removal of days older than
// KeepDays. On failure the counts stay pending for the next try.
func (s *Store) Flush() error {
	// dbMu is held from the copy of the pending counts to the end of the
	// write, so History never sees them neither pending nor written.
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if !s.dirty && len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	days := s.pending
	s.pending = make(map[string]counts)
	totals := make(counts, len(s.last))
	for k, t := range s.last {
		totals[k] = t
	}
	s.dirty = false
	s.mu.Unlock()

	now := s.opts.Now()
	oldest := dateOf(now.AddDate(0, 0, -(s.opts.KeepDays-1)), s.opts.Location)
	err := withDB(s.path, false, s.opts.LockTimeout, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error { return writeFlush(tx, totals, days, oldest, now) })
	})
	if err != nil {
		s.mu.Lock()
		for date, day := range days {
			p := s.pending[date]
			if p == nil {
				p = make(counts)
				s.pending[date] = p
			}
			for k, t := range day {
				p.add(k, t.In, t.Out)
			}
		}
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

// writeFlush is Flush's transaction.
func writeFlush(tx *bolt.Tx, totals counts, days map[string]counts, oldest string, now time.Time) error {
	tb := tx.Bucket(bucketTotals)
	for k, t := range totals {
		if err := tb.Put([]byte(k), encodeCounts(t)); err != nil {
			return err
		}
	}
	daily := tx.Bucket(bucketDaily)
	for date, day := range days {
		if date < oldest {
			continue
		}
		db, err := daily.CreateBucketIfNotExists([]byte(date))
		if err != nil {
			return err
		}
		for k, d := range day {
			cur := totalsOf(0, 0)
			if v := db.Get([]byte(k)); v != nil {
				if cur, err = decodeCounts(v); err != nil {
					return fmt.Errorf("day %s, %s: %w", date, k, err)
				}
			}
			cur.In += d.In
			cur.Out += d.Out
			if err := db.Put([]byte(k), encodeCounts(cur)); err != nil {
				return err
			}
		}
	}
	// Days sort as their names: delete from the first up to oldest.
	var old [][]byte
	c := daily.Cursor()
	for k, _ := c.First(); k != nil && string(k) < oldest; k, _ = c.Next() {
		old = append(old, append([]byte(nil), k...))
	}
	for _, k := range old {
		if err := daily.DeleteBucket(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyFlushed, []byte(now.UTC().Format(time.RFC3339Nano)))
}
