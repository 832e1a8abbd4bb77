// Package state keeps bwmon's accounting across restarts: each app's
// cumulative totals, the unattributed bytes by reason, the forwarded bytes
// (by pair of hosts, as many as the aggregator lists, and in all), and
// these totals for each local day of the last 90, in a bbolt file
// (bwmon.db) in a state directory.
//
// A Store is an aggregator.Consumer: Consume turns each tick's cumulative
// totals into deltas and adds them to the day's bucket in memory; a
// goroutine of its own writes them every flush interval in one bbolt
// transaction, and Close writes the rest. bbolt commits atomically and
// fsyncs, so a crash loses at most what was counted since the last flush
// and never leaves a half-written store. A store that cannot be opened or
// read (not a bbolt file, a bad checksum, a failed consistency check) is
// renamed bwmon.db.corrupt-TIME and a new one begins, with a log line
// saying so.
//
// bbolt lets one process open a file for writing, and a writer excludes
// readers. The Store therefore opens bwmon.db only for the length of a
// flush or a query, so that `bwmon report` (ReadHistory) can read it while
// the agent runs; a lock file, bwmon.lock, held for the Store's life keeps
// a second agent out of the same directory.
//
// It does not read the kernel or count anything itself, and needs only
// write access to its directory.
package state
