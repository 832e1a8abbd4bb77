// Package cttest encodes conntrack entries as the kernel sends them, for
// the tests of what decodes them: ctnetlink's parsers and the monitor's
// event path. Its attribute numbers are written from the kernel's
// include/uapi/linux/netfilter/nfnetlink_conntrack.h, apart from the
// decoder's, so that a wrong number is not mirrored in both.
package cttest
