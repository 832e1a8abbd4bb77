// Package safename makes a name that came from outside bwmon safe to show
// and to store: a process's executable or command line, a container, unit,
// user or cgroup name. Any local user chooses these, so they may hold
// invalid UTF-8, terminal controls (C0, DEL and C1, whose U+009B starts an
// escape sequence on many terminals), bidirectional overrides and isolates
// that reorder what a reader sees, invisible format characters, or be
// hundreds of kilobytes long.
//
// Clean is the one sanitiser: every name passes through it before it leaves
// bwmon, whatever the way out (the console table, `bwmon report`, JSON,
// Prometheus label values, state store keys, alert environment variables).
// What it cannot show as text it shows as a visible escape (`\xff` for a
// byte that is not UTF-8, `\x1b` for a C0 control, `\u009b`, `\u202e` for
// the others), and it cuts the result to MaxLen bytes. Its output is valid
// UTF-8 with no control or format character, and Clean(Clean(s)) ==
// Clean(s).
//
// It does no I/O and needs no privileges.
package safename
