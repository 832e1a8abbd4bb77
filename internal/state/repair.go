package state

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A bad record never blinds the agent. Reading a bucket of counts
// (readCounts) keeps every record it can decode under its clean key
// (merging the counts of names that clean to the same) and drops the
// others; readers (History, ReadHistory) report how many in
// History.Repaired and History.Dropped. At Open, repairStore writes the
// repaired buckets back, folds each day to DayApps apps, and Open logs one
// warning: a store saved by an older bwmon (with raw names, or a day of
// 1,500 one-shot apps) is served, and then bounded, from its first start.

// readCounts reads the records of b, counting what it repairs and drops
// in rep. changed says the bucket differs from what it returns (so
// repairStore rewrites it).
func readCounts(b *bolt.Bucket, rep *repairs) (c counts, changed bool) {
	c = make(counts)
	_ = b.ForEach(func(k, v []byte) error {
		if v == nil { // a nested bucket: not a record
			rep.Dropped++
			changed = true
			return nil
		}
		key, t, st := decodeRecord(k, v)
		rep.add(st)
		if st == recordDropped {
			changed = true
			return nil
		}
		if st == recordRepaired {
			changed = true
		}
		c.add(key, t.In, t.Out)
		return nil
	})
	return c, changed
}

// bucketHolder is a *bolt.Tx or a *bolt.Bucket.
type bucketHolder interface {
	CreateBucket([]byte) (*bolt.Bucket, error)
	DeleteBucket([]byte) error
}

// rewriteBucket replaces the bucket name of parent with one holding c.
func rewriteBucket(parent bucketHolder, name []byte, c counts) error {
	if err := parent.DeleteBucket(name); err != nil {
		return err
	}
	b, err := parent.CreateBucket(name)
	if err != nil {
		return err
	}
	for k, t := range c {
		if err := b.Put([]byte(k), encodeCounts(t)); err != nil {
			return err
		}
	}
	return nil
}

// repairStore rewrites the totals and each day the way readers see them,
// and folds each day to dayApps apps. It returns the app keys of the
// newest day.
func repairStore(tx *bolt.Tx, dayApps int, rep *repairs) (map[string][]string, error) {
	if c, changed := readCounts(tx.Bucket(bucketTotals), rep); changed {
		if err := rewriteBucket(tx, bucketTotals, c); err != nil {
			return nil, err
		}
	}
	daily := tx.Bucket(bucketDaily)
	var bad, dates [][]byte
	_ = daily.ForEach(func(k, v []byte) error {
		if v != nil || !validDate(k) {
			bad = append(bad, bytes.Clone(k))
		} else {
			dates = append(dates, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range bad {
		rep.Dropped++
		if err := deleteEntry(daily, k); err != nil {
			return nil, err
		}
	}
	newest := map[string][]string{}
	for i, date := range dates {
		c, changed := readCounts(daily.Bucket(date), rep)
		n := foldDay(c, dayApps, nil)
		rep.Folded += n
		if changed || n > 0 {
			if err := rewriteBucket(daily, date, c); err != nil {
				return nil, err
			}
		}
		if i == len(dates)-1 {
			var keys []string
			for k := range c {
				if isAppKey(k) && k != otherKey {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			newest[string(date)] = keys
		}
	}
	return newest, nil
}
