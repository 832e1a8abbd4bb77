package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/model"
)

// errClosed is returned by the methods of a closed Store.
var errClosed = errors.New("state store closed")

// Consume implements aggregator.Consumer: it adds what each app, each
// unattributed reason and the forwarded section moved since the previous
// Snapshot to the bucket of the Snapshot's local day. It only touches
// memory.
//
// The aggregator folds apps beyond its limits into model.OtherApp: such an
// app leaves the Snapshots and its cumulative bytes join OtherApp's. The
// store booked those bytes already, under the app's own name, so OtherApp's
// day gets only what it grew beyond them, and the app leaves the totals
// (Totals, and the file at the next flush): they hold the apps the
// aggregator holds. Apps that leave without joining OtherApp (the
// aggregator starting afresh when group_by changes) book nothing.
func (s *Store) Consume(snap *model.Snapshot) {
	date := dateOf(snap.Time, s.opts.Location)
	// Names are clean already (the aggregator cleans them), but the store
	// refuses no name, whatever its length or bytes: it cleans keys
	// itself, summing the apps whose names clean to the same.
	apps := make(counts, len(snap.Apps))
	for _, a := range snap.Apps {
		apps.add(appKey(a.App), a.BytesIn, a.BytesOut)
		for class, c := range a.Classes {
			apps.add(classKey(class, a.App), c.BytesIn, c.BytesOut)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var gone model.Totals
	goneClasses := make(map[string]model.Totals) // OtherApp's class key -> the folded apps' bytes
	for k, t := range s.last {
		if _, ok := apps[k]; ok {
			continue
		}
		if class, app, ok := splitClassKey(k); ok {
			if _, kept := apps[appKey(app)]; !kept {
				o := classKey(class, model.OtherApp)
				goneClasses[o] = plus(goneClasses[o], t)
			}
			// else the classes started afresh: nothing to carry.
			delete(s.last, k)
			s.dirty = true
			continue
		}
		if !isAppKey(k) {
			continue
		}
		gone = plus(gone, t)
		delete(s.last, k)
		s.dirty = true
	}
	added := false
	for k, t := range apps {
		base := s.last[k]
		if k == otherKey {
			// OtherApp's growth beyond the folded apps' totals.
			base = plus(base, gone)
		} else if g, ok := goneClasses[k]; ok {
			base = plus(base, g)
		}
		added = s.recordOver(date, k, t.In, t.Out, base) || added
	}
	for r, sum := range snap.Unattributed.Reasons {
		s.record(date, unattKey(r), sum.BytesIn, sum.BytesOut)
	}
	s.recordForwarded(date, snap.Forwarded)
	if added {
		s.foldPendingLocked(date)
	}
}

// record sets key's cumulative counts to in, out and books what they grew
// to the day. Counts that went down (an aggregator that was not restored,
// or that started afresh) book nothing and are the next base. It reports
// whether key is new in the day's pending counts.
func (s *Store) record(date, key string, in, out uint64) bool {
	return s.recordOver(date, key, in, out, s.last[key])
}

// recordOver is record with what they grew beyond base booked.
func (s *Store) recordOver(date, key string, in, out uint64, base model.Totals) bool {
	if prev, ok := s.last[key]; !ok || prev.In != in || prev.Out != out {
		s.last[key] = totalsOf(in, out)
		s.dirty = true
	}
	dIn, dOut := satSub(in, base.In), satSub(out, base.Out)
	if dIn == 0 && dOut == 0 {
		return false
	}
	day := s.pending[date]
	if day == nil {
		day = make(counts)
		s.pending[date] = day
	}
	_, had := day[key]
	day.add(key, dIn, dOut)
	return !had
}

// foldPendingLocked holds the pending counts of date to DayApps apps by
// name, ranking first the names the file's day keeps already (whose bytes
// stay under their name) and then the largest. s.mu is held.
func (s *Store) foldPendingLocked(date string) {
	day := s.pending[date]
	if day == nil {
		return
	}
	inFile := s.fileNames[date]
	foldDay(day, s.opts.DayApps, func(k string) bool { _, ok := inFile[k]; return ok })
}

// Flush writes the pending counts now, in one transaction: the cumulative
// totals (the records of apps that left them deleted), the days' additions
// folded to DayApps apps, and the removal of days older than KeepDays. On
// failure the counts stay pending for the next try.
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
	totals := s.last.clone()
	s.dirty = false
	s.mu.Unlock()

	now := s.opts.Now()
	oldest := dateOf(now.AddDate(0, 0, -(s.opts.KeepDays-1)), s.opts.Location)
	var kept map[string][]string
	err := withDB(s.dir, false, s.opts.LockTimeout, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) (err error) {
			kept, err = writeFlush(tx, totals, days, oldest, now, s.opts.DayApps)
			return err
		})
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		for date, day := range days {
			p := s.pending[date]
			if p == nil {
				p = make(counts)
				s.pending[date] = p
			}
			for k, t := range day {
				p.add(k, t.In, t.Out)
			}
			s.foldPendingLocked(date)
		}
		s.dirty = true
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	s.rememberFileNamesLocked(kept)
	return nil
}

// rememberFileNamesLocked keeps the app keys the file's newest days hold,
// for foldPendingLocked. s.mu is held.
func (s *Store) rememberFileNamesLocked(kept map[string][]string) {
	for date, keys := range kept {
		set := make(map[string]struct{}, len(keys))
		for _, k := range keys {
			set[k] = struct{}{}
		}
		s.fileNames[date] = set
	}
	// Only today and yesterday take bytes.
	dates := slices.Sorted(maps.Keys(s.fileNames))
	for _, date := range dates[:max(0, len(dates)-2)] {
		delete(s.fileNames, date)
	}
}

// writeFlush is Flush's transaction. It returns the app keys each day it
// wrote keeps.
func writeFlush(tx *bolt.Tx, totals counts, days map[string]counts, oldest string, now time.Time, dayApps int) (map[string][]string, error) {
	tb := tx.Bucket(bucketTotals)
	var gone [][]byte
	err := tb.ForEach(func(k, _ []byte) error {
		if _, ok := totals[string(k)]; !ok {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range gone {
		if err := tb.Delete(k); err != nil {
			return nil, err
		}
	}
	for k, t := range totals {
		if err := tb.Put([]byte(k), encodeCounts(t)); err != nil {
			return nil, fmt.Errorf("total %.64q: %w", k, err)
		}
	}
	daily := tx.Bucket(bucketDaily)
	kept := make(map[string][]string, len(days))
	for date, day := range days {
		if date < oldest {
			continue
		}
		db, err := daily.CreateBucketIfNotExists([]byte(date))
		if err != nil {
			return nil, err
		}
		for k, d := range day {
			// A record that cannot be decoded counts as none.
			cur, _ := decodeCounts(db.Get([]byte(k)))
			if err := db.Put([]byte(k), encodeCounts(plus(cur, d))); err != nil {
				return nil, fmt.Errorf("day %s, %.64q: %w", date, k, err)
			}
		}
		if kept[date], _, err = foldDayBucket(db, dayApps); err != nil {
			return nil, err
		}
	}
	// Days sort as their names: delete from the first up to oldest.
	var old [][]byte
	c := daily.Cursor()
	for k, _ := c.First(); k != nil && string(k) < oldest; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := deleteEntry(daily, k); err != nil {
			return nil, err
		}
	}
	return kept, tx.Bucket(bucketMeta).Put(keyFlushed, []byte(now.UTC().Format(time.RFC3339Nano)))
}

// deleteEntry deletes k from b, a nested bucket or a value.
func deleteEntry(b *bolt.Bucket, k []byte) error {
	if b.Bucket(k) != nil {
		return b.DeleteBucket(k)
	}
	return b.Delete(k)
}
