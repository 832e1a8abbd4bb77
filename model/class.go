package model

// Class is a destination class: the index of the class of a flow's remote
// end in the agent's list of classes (internal/classify's Table.Names,
// which the aggregator is handed as ClassNames). Monitors learn a flow's
// class once, when they first see it, and pass it with its bytes
// (MonitorEntryCollection.AddClass); names are only looked up when a tick
// is made.
type Class uint8

// ClassNone is the class of bytes whose remote end is not known or not
// classified (a pipe's payload, a monitor without classes): they count in
// an app's totals and under no class.
const ClassNone Class = 0

// MaxClasses bounds the class indices, ClassNone included: at most
// MaxClasses-1 named classes (16 of the configuration's [[class]] and the
// three built-in ones), so that every output that lists classes per app
// stays bounded. Indices at or past it count as ClassNone.
const MaxClasses = 20

// ClassRow is what one class moved, in a short list of the classes an
// entry has bytes of (most have one or two): In is what the local end
// received from remote ends of the class, Out what it sent to them.
type ClassRow struct {
	Class   Class
	In, Out uint64
}

// AddRow adds in and out to class c's row of rows, appending one when c
// has none, and returns rows.
func AddRow(rows []ClassRow, c Class, in, out uint64) []ClassRow {
	for i := range rows {
		if r := &rows[i]; r.Class == c {
			r.In += in
			r.Out += out
			return rows
		}
	}
	return append(rows, ClassRow{c, in, out})
}

// AppClass is one class of an app's line in a Snapshot: its bytes since
// Snapshot.Since and its rates over the last tick.
type AppClass struct {
	BytesIn  uint64  `json:"bytes_in"`
	BytesOut uint64  `json:"bytes_out"`
	RateIn   float64 `json:"rate_in"`
	RateOut  float64 `json:"rate_out"`
}
