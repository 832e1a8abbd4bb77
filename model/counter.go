package model

// FlowCounter turns the cumulative byte counters of one flow, as the kernel
// reports them, into deltas. A counter that goes backwards means the kernel
// reused the flow (a new connection on the same 4-tuple): the new value is
// then all new bytes, never a negative delta and never a double count.
type FlowCounter struct {
	Orig, Reply uint64
}

// Update records the counters cur and returns the bytes added since the last
// Update in the original and the reply direction.
func (c *FlowCounter) Update(orig, reply uint64) (dOrig, dReply uint64) {
	if orig >= c.Orig {
		dOrig = orig - c.Orig
	} else {
		dOrig = orig
	}
	if reply >= c.Reply {
		dReply = reply - c.Reply
	} else {
		dReply = reply
	}
	c.Orig, c.Reply = orig, reply
	return dOrig, dReply
}

// Totals is the cumulative bytes of one app: what the aggregator restores
// at start and the state store keeps.
type Totals struct {
	In, Out uint64
}
