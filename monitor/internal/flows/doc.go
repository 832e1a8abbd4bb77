// Package flows is the flow table: it turns conntrack records (a dump each
// tick, NEW and DESTROY events between ticks, counters read by GET) into
// bytes per owner — a process, a forwarded pair of hosts, or a reason the
// bytes are unattributed — and hands them over with Drain.
//
// Each flow has one side per local end (two for loopback), or one outer
// side when neither end is local (forwarded or NATed through the host). A
// side's owner is asked of a Resolver, which ties its end to a socket and
// the socket to a process; the table asks quickly while a NEW event is
// fresh (Quick), again at the next ticks (Tick), and at the last attempt or
// at DESTROY must have an answer (Final). Bytes are booked only once a side
// is resolved, from the counters it had then, so none is lost or counted
// twice; bytes moved before bwmon started (the first dump) are not counted.
//
// With Options.Classes, each side also keeps the destination class of its
// remote end, found once when the flow is first seen; Drain hands each
// owner's bytes over by class (model.MonitorEntryCollection.AddClass).
//
// It does no I/O and makes no system call: it builds and is tested on any
// OS. Which owners to keep is a filter handed in (Options.Keep, the
// include/exclude rules), not the monitor's configuration.
//
// # Locks
//
// A Table is not safe for concurrent use: its caller guards it with a
// lock of its own ("the table's lock"), which every method but PrepareNew
// needs held. PrepareNew reads only what New set, so event workers call
// it without that lock. The table's own ownersMu guards the map of shared
// owners, which PrepareNew fills; it is taken inside the table's lock
// (EndDump prunes owners), never the other way round. ResolvePending takes
// the table's lock itself, step by step.
package flows
