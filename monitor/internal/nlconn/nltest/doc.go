// Package nltest builds netlink messages as the kernel sends them, for
// the tests of the decoders that read them.
package nltest
