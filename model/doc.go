// Package model holds what bwmon counts: per-process byte counters
// (MonitorEntryCollection, with each entry's bytes by destination class:
// AddClass), the reset-safe delta of a kernel counter
// (FlowCounter), the per-tick result every consumer reads (Snapshot, whose
// JSON form is the contract of `-output json` and the HTTP API), and the
// units bwmon reads and prints (Rate, byte formatting).
//
// It does no I/O and starts no goroutine: monitors fill it, the aggregator
// reads it, and both own the clock they pass in. It needs no privileges.
package model
