package model

import (
	"sort"
	"time"
)

// Key identifies a MonitorEntry: one process, one pipe, or one
// unattributed reason. Monitors build keys with the Key* functions.
type Key string

// MonitorEntry holds the bytes counted for one key.
type MonitorEntry struct {
	Key  Key
	Info Info
	// BytesIn and BytesOut are cumulative since the entry appeared: in is
	// what the local process received, out what it sent.
	BytesIn, BytesOut uint64
	// FirstSeen and LastSeen are when bytes were first and last added.
	FirstSeen, LastSeen time.Time

	periodIn, periodOut uint64
	// cls splits the period's classified bytes by class; spare is the
	// list Usage handed out last, whose room is reused next.
	cls, spare []ClassRow
}

// Usage is what one entry moved during the period that a call to
// MonitorEntryCollection.Usage closed.
type Usage struct {
	Entry   *MonitorEntry
	In, Out uint64
	// Classes splits the classified part of In and Out by the class of
	// the remote end, a row per class (none for ClassNone: bytes added
	// with Add are in In and Out only).
	Classes []ClassRow
}

// MonitorEntryCollection keeps a MonitorEntry per key. Monitors Add bytes;
// once per period the aggregator takes the Usage since the last period.
// Entries that moved nothing for the retention time are expired, so memory
// follows the processes that are active, not every process ever seen; the
// aggregator keeps their totals in their app.
//
// A collection is not safe for concurrent use: the aggregator's loop owns it
// and hands it to each monitor in turn.
type MonitorEntryCollection struct {
	retention time.Duration
	entries   map[Key]*MonitorEntry
	active    []*MonitorEntry // entries with bytes in the current period
}

// DefaultRetention is how long an idle entry is kept.
const DefaultRetention = 60 * time.Second

// NewMonitorEntryCollection returns an empty collection that expires entries
// idle for longer than retention (DefaultRetention when zero or less).
func NewMonitorEntryCollection(retention time.Duration) *MonitorEntryCollection {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &MonitorEntryCollection{retention: retention, entries: make(map[Key]*MonitorEntry)}
}

// Add counts in and out bytes for key at time now, of no class (ClassNone).
// The info of the first Add for a key stays with its entry, unless a later
// one names a process where the first did not.
func (c *MonitorEntryCollection) Add(key Key, info Info, in, out uint64, now time.Time) {
	c.AddClass(key, info, ClassNone, in, out, now)
}

// AddClass is Add for bytes exchanged with remote ends of class class: a
// monitor that knows each flow's remote end classifies it once and adds
// its bytes with their class, in as many calls as the entry has classes in
// the period.
func (c *MonitorEntryCollection) AddClass(key Key, info Info, class Class, in, out uint64, now time.Time) {
	e, ok := c.entries[key]
	if !ok {
		e = &MonitorEntry{Key: key, Info: info, FirstSeen: now}
		c.entries[key] = e
	} else if e.Info.Process == nil && info.Process != nil {
		e.Info = info
	}
	e.LastSeen = now
	if in == 0 && out == 0 {
		return
	}
	if e.periodIn == 0 && e.periodOut == 0 {
		c.active = append(c.active, e)
	}
	e.BytesIn += in
	e.BytesOut += out
	e.periodIn += in
	e.periodOut += out
	if class != ClassNone && int(class) < MaxClasses {
		e.cls = AddRow(e.cls, class, in, out)
	}
}

// Usage closes the current period: it returns every entry that moved bytes
// since the last call with those bytes, and expires entries idle since
// now-retention. The returned slice is valid until the next call.
func (c *MonitorEntryCollection) Usage(now time.Time) []Usage {
	out := make([]Usage, 0, len(c.active))
	for _, e := range c.active {
		out = append(out, Usage{Entry: e, In: e.periodIn, Out: e.periodOut, Classes: e.cls})
		e.periodIn, e.periodOut = 0, 0
		if e.cls != nil {
			// The rows handed out stay put until the next call.
			e.cls, e.spare = e.spare[:0], e.cls
		}
	}
	c.active = c.active[:0]
	for k, e := range c.entries {
		if now.Sub(e.LastSeen) > c.retention {
			delete(c.entries, k)
		}
	}
	return out
}

// Len returns the number of live entries.
func (c *MonitorEntryCollection) Len() int { return len(c.entries) }

// Entries returns the live entries, sorted by key.
func (c *MonitorEntryCollection) Entries() []*MonitorEntry {
	out := make([]*MonitorEntry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
