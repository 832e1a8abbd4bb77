package flows

// The bytes a table books are mapped onto the interfaces of its namespace,
// for coverage (model.LinkTick): the share of the interfaces' traffic that
// bwmon accounted for. A flow between two local addresses goes over the
// loopback and crosses none; a flow with one local end crosses an
// interface with its bytes in and out as its local end sees them; a flow
// with no local end was routed by the namespace, each byte in on one
// interface and out on another. Bytes count once booked, whoever books
// them (an app, a forwarded pair, an unattributed reason, or another
// namespace's table: ReasonElsewhere), and not when nobody does (a side
// filtered out by include, exclude or ignore_forwarded). A local side
// counted at the socket (ReasonAtSocket) is the socket counter's to book,
// coverage included.

// crossed adds what side s of fl booked, dO bytes in the original
// direction and dR in the reply one, as it crossed the interfaces.
func (t *Table) crossed(fl *flow, s *side, dO, dR uint64) {
	switch {
	case s.atSocket && !s.outer: // the socket counter books it
	case fl.n == 2: // both ends local: over the loopback
	case s.outer:
		t.cross.in += dO + dR
		t.cross.out += dO + dR
	case s.isOrig: // the initiator sent the original direction
		t.cross.in += dR
		t.cross.out += dO
	default:
		t.cross.in += dO
		t.cross.out += dR
	}
}

// TakeCrossed returns the bytes booked since the last call as they
// crossed the namespace's interfaces, in and out, and starts again from
// zero.
func (t *Table) TakeCrossed() (in, out uint64) {
	in, out = t.cross.in, t.cross.out
	t.cross = accum{}
	return in, out
}
