package aggregator

import "github.com/bwmon/bwmon/model"

// Destination classes: each app keeps its bytes split by the class of the
// remote end, as the monitors that know it add them
// (model.MonitorEntryCollection.AddClass). Classes are indices; their names
// (Config.ClassNames) are only looked up when a line is made, so the split
// costs an array addition per entry and tick.

// addClasses adds one entry's classes of the tick to s, those of the
// first n indices (those with a name).
func (s *appState) addClasses(rows []model.ClassRow, n int) {
	for _, r := range rows {
		if int(r.Class) >= n {
			continue
		}
		if s.classes == nil {
			s.classes = new(model.ClassSplit)
		}
		if s.tickClasses == nil {
			s.tickClasses = new(model.ClassSplit)
		}
		s.classes.Add(r.Class, r.In, r.Out)
		s.tickClasses.Add(r.Class, r.In, r.Out)
	}
}

// addSplit adds the first n classes of src to dst, made when nil, and
// returns dst.
func addSplit(dst, src *model.ClassSplit, n int) *model.ClassSplit {
	if src == nil {
		return dst
	}
	if dst == nil {
		dst = new(model.ClassSplit)
	}
	for i := range min(n, len(src)) {
		dst[i].In += src[i].In
		dst[i].Out += src[i].Out
	}
	return dst
}

// classLines makes an app's classes for its line: every named class that
// holds bytes, with its rates over the tick of dt seconds; nil when none.
func classLines(total, tick *model.ClassSplit, dt float64, names []string) map[string]model.AppClass {
	if total == nil {
		return nil
	}
	var out map[string]model.AppClass
	for i := 1; i < len(names) && i < model.MaxClasses; i++ {
		t := total[i]
		if t.In == 0 && t.Out == 0 || names[i] == "" {
			continue
		}
		c := model.AppClass{BytesIn: t.In, BytesOut: t.Out}
		if tick != nil {
			c.RateIn, c.RateOut = float64(tick[i].In)/dt, float64(tick[i].Out)/dt
		}
		if out == nil {
			out = make(map[string]model.AppClass, len(names))
		}
		out[names[i]] = c
	}
	return out
}

// resetClasses forgets every app's split by class (the classes changed).
func (a *Aggregator) resetClasses() {
	for _, s := range a.apps {
		s.classes, s.tickClasses = nil, nil
	}
	a.other.classes, a.other.tickClasses = nil, nil
}
