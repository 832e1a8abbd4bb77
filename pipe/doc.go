// Package pipe will be the counting TCP forwarder (issue 5). It holds
// nothing yet: the agent has no pipe monitor.
package pipe
