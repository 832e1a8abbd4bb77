package aggregator

import "github.com/bwmon/bwmon/model"

// Destination classes: each app keeps its bytes split by the class of the
// remote end, as the monitors that know it add them
// (model.MonitorEntryCollection.AddClass). Classes are indices; their names
// (Config.ClassNames) are only looked up when a line is made. An app keeps
// a row per class it has bytes of (most have one or two), so that a flood
// of apps costs little more with classes than without.

// appClass is one class's bytes of an app: since Snapshot.Since, and in
// the current tick.
type appClass struct {
	class           model.Class
	in, out         uint64
	tickIn, tickOut uint64
}

// classRow returns the row of class c in *rows, appending one when there
// is none.
func classRow(rows *[]appClass, c model.Class) *appClass {
	for i := range *rows {
		if (*rows)[i].class == c {
			return &(*rows)[i]
		}
	}
	*rows = append(*rows, appClass{class: c})
	return &(*rows)[len(*rows)-1]
}

// addClasses adds one entry's classes of the tick to s, those of the
// first n indices (those with a name).
func (s *appState) addClasses(rows []model.ClassRow, n int) {
	for _, r := range rows {
		if int(r.Class) >= n {
			continue
		}
		c := classRow(&s.classes, r.Class)
		c.in += r.In
		c.out += r.Out
		c.tickIn += r.In
		c.tickOut += r.Out
	}
}

// mergeClasses adds the rows of src, totals and tick, to dst and returns
// dst.
func mergeClasses(dst, src []appClass) []appClass {
	for _, r := range src {
		c := classRow(&dst, r.class)
		c.in += r.in
		c.out += r.out
		c.tickIn += r.tickIn
		c.tickOut += r.tickOut
	}
	return dst
}

// classLines makes an app's classes for its line, with their rates over
// the tick of dt seconds, and closes the tick of rows; nil when no named
// class holds bytes.
func classLines(rows []appClass, dt float64, names []string) map[string]model.AppClass {
	var out map[string]model.AppClass
	for i := range rows {
		r := &rows[i]
		c := model.AppClass{BytesIn: r.in, BytesOut: r.out, RateIn: float64(r.tickIn) / dt, RateOut: float64(r.tickOut) / dt}
		r.tickIn, r.tickOut = 0, 0
		if int(r.class) >= len(names) || names[r.class] == "" || r.class == model.ClassNone || c.BytesIn == 0 && c.BytesOut == 0 {
			continue
		}
		if out == nil {
			out = make(map[string]model.AppClass, len(rows))
		}
		out[names[r.class]] = c
	}
	return out
}

// resetClasses forgets every app's split by class (the classes changed).
func (a *Aggregator) resetClasses() {
	for _, s := range a.apps {
		s.classes = nil
	}
	a.other.classes = nil
}
