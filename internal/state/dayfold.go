package state

import (
	"bytes"
	"cmp"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/model"
)

// A day keeps at most Options.DayApps apps by name: a flood of one-shot
// processes (a build, a test suite, temp names) would otherwise add a
// record a name to the day, to the file and to every report. The smallest
// apps of the day beyond the bound are folded into OtherApp, whose bytes
// they join, so the day's sums stay exact. The bound holds in memory (the
// pending counts, folded as each Snapshot is booked) and in the file
// (folded as each flush adds to a day); a day's names are ranked by their
// bytes in the day, in plus out.

var otherKey = appKey(model.OtherApp)

type dayApp struct {
	key   string
	t     model.Totals
	first bool
}

// rankDayApps sorts apps: those marked first, then the largest, then by
// name.
func rankDayApps(apps []dayApp) {
	slices.SortFunc(apps, func(x, y dayApp) int {
		if x.first != y.first {
			if x.first {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(satAdd(y.t.In, y.t.Out), satAdd(x.t.In, x.t.Out)), cmp.Compare(x.key, y.key))
	})
}

// foldDay folds the apps of the day's counts c beyond the keep first into
// OtherApp's key, keeping their bytes. Names for which first returns true
// (may be nil) rank before the others. It returns how many apps it folded.
func foldDay(c counts, keep int, first func(key string) bool) int {
	n := 0
	for k := range c {
		if isAppKey(k) && k != otherKey {
			n++
		}
	}
	if n <= keep {
		return 0
	}
	apps := make([]dayApp, 0, n)
	for k, t := range c {
		if isAppKey(k) && k != otherKey {
			apps = append(apps, dayApp{key: k, t: t, first: first != nil && first(k)})
		}
	}
	rankDayApps(apps)
	for _, a := range apps[keep:] {
		c.add(otherKey, a.t.In, a.t.Out)
		delete(c, a.key)
	}
	foldClasses(c)
	return len(apps) - keep
}

// foldDayBucket is foldDay on a day's bucket in the file. It returns the
// app keys the day keeps (OtherApp's aside) and how many it folded. A
// record it cannot decode counts as no bytes and is folded or overwritten.
func foldDayBucket(b *bolt.Bucket, keep int) (kept []string, folded int, err error) {
	var apps []dayApp
	prefix := []byte(appPrefix)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if string(k) == otherKey {
			continue
		}
		t, _ := decodeCounts(v)
		apps = append(apps, dayApp{key: string(k), t: t})
	}
	if len(apps) > keep {
		rankDayApps(apps)
		var other model.Totals
		if v := b.Get([]byte(otherKey)); v != nil {
			other, _ = decodeCounts(v)
		}
		for _, a := range apps[keep:] {
			other = plus(other, a.t)
			if err := b.Delete([]byte(a.key)); err != nil {
				return nil, 0, err
			}
		}
		if err := b.Put([]byte(otherKey), encodeCounts(other)); err != nil {
			return nil, 0, err
		}
		folded = len(apps) - keep
		apps = apps[:keep]
		if err := foldClassesBucket(b); err != nil {
			return nil, 0, err
		}
	}
	kept = make([]string, len(apps))
	for i, a := range apps {
		kept[i] = a.key
	}
	return kept, folded, nil
}
