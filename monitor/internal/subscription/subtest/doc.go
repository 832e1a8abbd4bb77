// Package subtest has a scripted subscription.Source for tests of what
// reads a kernel subscription, at the lowest level: no socket, no kernel.
package subtest
