package notify

// MaxQueuedPerRule bounds the events of one rule waiting for a free slot.
// An event that finds its rule's queue full is dropped and counted; since a
// dropped 'firing' does not start the cooldown, the app fires again at the
// next tick while it is still over its limit.
const MaxQueuedPerRule = 256

// fairQueue holds the events waiting to go out: a FIFO per rule, at most
// MaxQueuedPerRule each, served in turn, so that the events of one rule (a
// flood of apps an attacker named, say) cannot hold back another rule's.
// Within a rule, apps go out in the order they fired; each direction of an
// app has at most one 'firing' and one 'resolved' waiting (see
// direction.step), which bounds what one app holds in its rule's queue.
//
// It is not safe for concurrent use: the Notifier guards it with its mutex.
type fairQueue struct {
	rules [][]delivery
	// next is the rule whose turn it is.
	next int
	// len is the number of events waiting in all rules.
	len int
}

func newFairQueue(rules int) fairQueue { return fairQueue{rules: make([][]delivery, rules)} }

// push appends d to its rule's queue; it reports false, and keeps nothing,
// when that queue is full.
func (q *fairQueue) push(d delivery) bool {
	r := &q.rules[d.rule]
	if len(*r) >= MaxQueuedPerRule {
		return false
	}
	*r = append(*r, d)
	q.len++
	return true
}

// pop takes the first event of the next rule, in turn after the last one
// served, whose outputs can start now (ready); false when none can.
func (q *fairQueue) pop(ready func(rule int) bool) (delivery, bool) {
	for k := range q.rules {
		i := (q.next + k) % len(q.rules)
		r := q.rules[i]
		if len(r) == 0 || !ready(i) {
			continue
		}
		d := r[0]
		r[0] = delivery{} // let the event go
		q.rules[i] = r[1:]
		if len(q.rules[i]) == 0 {
			q.rules[i] = nil // give back the array
		}
		q.len--
		q.next = (i + 1) % len(q.rules)
		return d, true
	}
	return delivery{}, false
}

// clear empties the queue and returns how many events it held.
func (q *fairQueue) clear() int {
	n := q.len
	for i := range q.rules {
		q.rules[i] = nil
	}
	q.len = 0
	return n
}
