// Package tui is bwmon's terminal UI: a live table of the apps, redrawn in
// place on the terminal's alternate screen, that fits and follows the
// terminal's size and answers keys (moving, sorting by each column, bits
// or bytes, rates or totals, filtering by name, pausing, and expanding an
// app into its processes), with a log area where the agent's messages and
// alert lines stay readable.
//
// It is fed by a Feed, which the agent's aggregator (a Feed is an
// aggregator.Consumer) or a client of a running agent's WebSocket
// (`bwmon top`) fills; Run draws what it holds. The model (Model) is a
// pure function of the messages it is given, so that tests drive it with
// fake snapshots and fake keys at any size, without a terminal.
//
// Every name shown (an app, a user, a unit, a container, a command line, a
// log line) passes through internal/safename before it reaches the
// terminal, and is cut to its column by display width. The package knows
// nothing of how the snapshots are made; it does not list a process's
// connections (the agent does not keep them per process).
//
// It needs a terminal, and no privilege of its own.
package tui
