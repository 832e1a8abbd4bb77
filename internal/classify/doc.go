// Package classify puts remote addresses into destination classes: the
// configuration's [[class]] rules (a name and CIDR prefixes, the first
// rule that holds an address wins), then the built-in classes: loopback
// is "local", the private, shared (CGNAT), link-local and unique-local
// ranges are "private", and every other address is "internet".
//
// A Table is built once from a Config and is then read-only: Lookup is a
// binary search over disjoint ranges of addresses, safe for concurrent
// use, allocating nothing. Monitors call it once per flow, when the flow
// is first seen, and keep the class index (model.Class) with the flow.
//
// It does no I/O and needs no privileges.
package classify
