package state

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Destination classes in the store: an app's bytes with the remote ends of
// one class (model.AppUsage.Classes) under "class/CLASS/APP", in the
// totals and in each day, beside the app's own "app/APP". A class name
// holds no "/" (internal/classify refuses one), so the first "/" after the
// prefix ends it; the app's name is clean as in its app key. A day's class
// keys follow its apps: those of an app folded into OtherApp join
// OtherApp's, so a day holds at most classes × (DayApps + 1) of them. A
// store written before these keys existed has none; a bwmon of that time
// drops them as records it cannot read.
const classPrefix = "class/"

// classKey is the key of app's bytes of class.
func classKey(class, app string) string {
	return classPrefix + cleanClass(class) + "/" + safename.Clean(app)
}

// cleanClass is a class name as a key holds it: clean, without "/".
func cleanClass(s string) string { return strings.ReplaceAll(safename.Clean(s), "/", `\x2f`) }

// splitClassKey returns the class and the app of a class key.
func splitClassKey(k string) (class, app string, ok bool) {
	rest, ok := strings.CutPrefix(k, classPrefix)
	if !ok {
		return "", "", false
	}
	class, app, ok = strings.Cut(rest, "/")
	return class, app, ok && class != "" && app != ""
}

// foldClasses moves the class keys of c whose app is no longer in c (it was
// folded into OtherApp) to OtherApp's class keys.
func foldClasses(c counts) {
	for k, t := range c {
		class, app, ok := splitClassKey(k)
		if !ok || app == model.OtherApp {
			continue
		}
		if _, kept := c[appPrefix+app]; kept {
			continue
		}
		delete(c, k)
		c.add(classKey(class, model.OtherApp), t.In, t.Out)
	}
}

// ClassBytes is one app's bytes with the remote ends of one class in a
// period.
type ClassBytes struct {
	Class    string `json:"class"`
	App      string `json:"app"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// classes lists the class keys of c, by class name, then the largest
// first (bytes out, then in), then by app; OtherApp's row last in its
// class. n > 0 keeps the n largest apps of each class and adds the rest to
// its OtherApp row.
func (c counts) classes(n int) []ClassBytes {
	by := make(map[string][]ClassBytes)
	for k, t := range c {
		class, app, ok := splitClassKey(k)
		if !ok {
			continue
		}
		by[class] = append(by[class], ClassBytes{Class: class, App: app, BytesIn: t.In, BytesOut: t.Out})
	}
	out := []ClassBytes{}
	for _, class := range slices.Sorted(maps.Keys(by)) {
		rows := by[class]
		other := ClassBytes{Class: class, App: model.OtherApp}
		haveOther := false
		kept := rows[:0]
		for _, r := range rows {
			if r.App == model.OtherApp {
				other.BytesIn, other.BytesOut, haveOther = satAdd(other.BytesIn, r.BytesIn), satAdd(other.BytesOut, r.BytesOut), true
				continue
			}
			kept = append(kept, r)
		}
		slices.SortFunc(kept, func(x, y ClassBytes) int {
			return cmp.Or(cmp.Compare(y.BytesOut, x.BytesOut), cmp.Compare(y.BytesIn, x.BytesIn), cmp.Compare(x.App, y.App))
		})
		if n > 0 && len(kept) > n {
			for _, r := range kept[n:] {
				other.BytesIn, other.BytesOut, haveOther = satAdd(other.BytesIn, r.BytesIn), satAdd(other.BytesOut, r.BytesOut), true
			}
			kept = kept[:n]
		}
		out = append(out, kept...)
		if haveOther {
			out = append(out, other)
		}
	}
	return out
}

// foldClassesBucket is foldClasses on a day's bucket in the file.
func foldClassesBucket(b *bolt.Bucket) error {
	moved := make(map[string]model.Totals)
	var gone [][]byte
	prefix := []byte(classPrefix)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		class, app, ok := splitClassKey(string(k))
		if !ok || app == model.OtherApp || b.Get([]byte(appPrefix+app)) != nil {
			continue
		}
		t, _ := decodeCounts(v)
		o := classKey(class, model.OtherApp)
		moved[o] = plus(moved[o], t)
		gone = append(gone, bytes.Clone(k))
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for k, t := range moved {
		cur, _ := decodeCounts(b.Get([]byte(k)))
		if err := b.Put([]byte(k), encodeCounts(plus(cur, t))); err != nil {
			return err
		}
	}
	return nil
}

// Classes returns each app's bytes by destination class as of the last
// Consume (at Open: as stored), app name to class name to bytes, in the
// form aggregator.RestoreClasses takes.
func (s *Store) Classes() map[string]map[string]model.Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]model.Totals)
	for k, t := range s.last {
		class, app, ok := splitClassKey(k)
		if !ok {
			continue
		}
		if out[app] == nil {
			out[app] = make(map[string]model.Totals)
		}
		out[app][class] = t
	}
	return out
}
