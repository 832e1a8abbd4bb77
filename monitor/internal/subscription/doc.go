// Package subscription reads a kernel subscription — the conntrack event
// socket, the proc connector — for as long as its owner runs, and opens it
// again after a failure: a reader that stopped for good on its first error
// left bwmon blind to new flows or processes until restart.
//
// ENOBUFS (the kernel dropped messages) is reported and reading goes on;
// any other error closes the subscription, is counted (Reader.Failures)
// and logged, and after a pause (100 ms doubling to 30 s, back to 100 ms
// after a healthy minute) a new one is opened. It does not open the first
// subscription, decode messages or say what a loss means: its owner does.
//
// Package subtest has a scripted Source for tests.
package subscription
