// Package nettest gives bwmon's end-to-end tests their own small network:
// pairs of network namespaces joined by a veth link, generator processes
// with unique names running in them, and reference byte counts read from
// the peer namespace's conntrack table. Everything it makes is removed by
// tb.Cleanup; processes are killed by the PID it started them with.
//
// Traffic stays between the namespaces it creates. It needs root; tests
// call RequireRoot, which skips only when not root. A test that lacks
// anything else it needs (a tool, a kernel feature) calls Missing. Under
// CI=true both fail the test instead: CI runs as root with every tool
// installed, and a CI run that skips a test has tested nothing.
// Clock (a fake clock that moves when told), SyncBuffer and
// CheckGoroutines need nothing and serve any test.
package nettest
