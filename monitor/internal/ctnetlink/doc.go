// Package ctnetlink reads the kernel's conntrack table over netlink
// (ctnetlink): a lean dump decoder that keeps only what bwmon uses of each
// entry (Rec: its ID, protocol, both tuples and both byte counters), reads
// by GET of known entries, and a reader of NEW and DESTROY events in
// plain blocking reads on a thread of its own.
//
// A dump of 100,000 flows fills one reused slice, one datagram at a time
// (DumpEach), instead of decoding every attribute into a new object as
// github.com/ti-mo/conntrack's Dump does; events still go through
// ti-mo/conntrack's decoder (DecodeEvent). The parsers are pure functions
// (ParseDump, ParseGet, DecodeEvent) with fuzz targets; package cttest
// encodes entries as the kernel does, for tests.
//
// It does not keep a table, tell flows apart by owner or run `conntrack
// -L`. Records and keys (records.go) build on every OS; the rest is
// Linux-only and needs CAP_NET_ADMIN, and a kernel with
// CONFIG_NF_CT_NETLINK (events: CONFIG_NF_CONNTRACK_EVENTS).
package ctnetlink
