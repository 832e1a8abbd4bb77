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
// It is the one place where apps are bounded and their names made safe, so
// that every output downstream gets a bounded list of clean names:
//
//   - Every app name the Grouper makes, and every name in the lists of
//     where an app runs (users, units, containers, cgroups, network
//     namespaces), passes through safename.Clean. A process whose own name
//     is model.OtherApp is named OtherLookalike. Each list holds at most
//     model.MaxListed entries, the first in order; AppUsage.Processes
//     counts them all.
//   - Apps are folded into model.OtherApp (Config.Limits): each tick, after
//     its bytes are added, an app idle for longer than ActiveWindow that is
//     not among the TopApps largest by total is folded; then, while more
//     than Apps apps remain, the longest idle ones, then the active ones
//     with the smallest totals, the TopApps largest never. Folding is
//     permanent and exact: the app's totals go to OtherApp's, its bytes of
//     the tick to OtherApp's rate, and the app is forgotten. Bytes its
//     processes move later start an app of that name from zero; its older
//     bytes stay in OtherApp. So the sum of the lines of a Snapshot is every
//     byte attributed since Snapshot.Since, and a flood of uniquely named
//     processes costs at most Apps+1 lines.
//
// Each app also keeps its bytes split by destination class, as monitors
// that know the remote end add them (model.MonitorEntryCollection.AddClass):
// indices until a line is made, named then by Config.ClassNames; a folded
// app's split joins OtherApp's (classes.go).
//
// A monitor that is a LinkMonitor also hands over, each tick right after
// its Collect, what the interfaces of its namespace moved and the bytes it
// counted as they crossed them (model.LinkTick). The aggregator keeps each
// interface's totals (interfaces.go: names clean, at most
// model.MaxInterfaces lines, the rest folded into one; two monitors of one
// namespace list its interfaces once) and coverage: the accounted bytes
// over the counted interfaces' IP bytes, per direction, for the tick, the
// last 15 minutes and 24 hours, and since start (coverage.go: buckets on
// the ticks' own clock).
//
// It does not read the kernel or serve anything itself, and needs no
// privileges. Tick takes the time as an argument; only Run owns a ticker.
package aggregator
