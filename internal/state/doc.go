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
// and never leaves a half-written store.
//
// What the store holds is bounded, whatever the processes are named:
//   - The totals hold the apps the aggregator holds. When the aggregator
//     folds an app into model.OtherApp, the app leaves the Snapshots and
//     its totals join OtherApp's; the store books OtherApp's day only what
//     it grew beyond them (the app's bytes were booked under its name) and
//     deletes the app's total.
//   - Each day keeps at most Options.DayApps apps by name; the smallest of
//     the day beyond them are folded into the day's OtherApp, bytes kept,
//     in memory and in the file (dayfold.go). A flood of one-shot apps
//     adds at most DayApps+1 records a day.
//   - Keys are made clean by safename.Clean (at most 256 bytes of name),
//     so no name can make a write fail.
//
// A bad file never blinds the agent. A name that is not clean (saved by an
// older bwmon) is read under its clean form, counts merged on a collision;
// a record, day or time that cannot be decoded is left out (keys.go,
// repair.go). Open writes these repairs back, folds old days to DayApps,
// and logs one warning; readers count them (History.Repaired, Dropped). A
// store that cannot be opened or read (not a bbolt file, a bad checksum, a
// failed consistency check, a page bbolt panics or faults on) is renamed
// bwmon.db.corrupt-TIME and a new one begins, with a log line saying so;
// the newest MaxCorruptCopies copies are kept, older ones deleted (logged).
// Readers get ErrDamaged instead of a panic.
//
// The state directory must be the agent's own: owned by its user or root,
// writable by no one else; a symlink in its place is followed only when the
// link and the directory holding it are beyond other users' reach (as
// systemd's StateDirectory= with DynamicUser=yes makes). It is opened once
// and checked; the lock and the store are opened through it (openat) with
// O_NOFOLLOW and O_CLOEXEC, and must be regular files, so a planted link is
// refused, never written through (dir_unix.go).
//
// bbolt lets one process open a file for writing, and a writer excludes
// readers. The Store therefore opens bwmon.db only for the length of a
// flush or a query, so that `bwmon report` (ReadHistory) can read it while
// the agent runs; a lock file, bwmon.lock, held for the Store's life keeps
// a second agent out of the same directory. Within a Store, dbMu (one open
// of the file at a time) is taken before mu (the counts).
//
// It does not read the kernel or count anything itself, and needs only
// write access to its directory. The directory checks need a Unix; on other
// systems Open and ReadHistory return an error.
package state
