// Package aggregator runs bwmon's tick: once per interval it asks every
// monitor for what it counted, groups the per-process entries into apps (the
// first [[app]] rule whose regex finds the command line, else the
// executable's basename with auto-grouping, else the command line; or, by
// Grouper.By, the container, systemd unit or user each process runs as),
// gathers where each app's processes run, keeps each app's cumulative
// totals and those of the traffic the host forwarded (by pair of hosts, a
// bounded number of them), and hands the resulting model.Snapshot to its consumers (the
// console, notifications, the HTTP API).
//
// It does not read the kernel or serve anything itself, and needs no
// privileges. Tick takes the time as an argument; only Run owns a ticker.
package aggregator
