package netns

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fakeReader stands for a namespace's conntrack reader.
type fakeReader struct {
	label  string
	mu     sync.Mutex
	closed int
}

func (r *fakeReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	return nil
}

// TestReaders: at most Max namespaces are read, the rest skipped and
// counted; a namespace that must not be read is not; a reader is closed
// when its namespace goes, and its place goes to a skipped one; on Close
// every reader is closed once. (Other tests' namespaces on the host are
// refused too, so the counts of skipped and unread ones are bounds.)
func TestReaders(t *testing.T) {
	nettest.RequireRoot(t)
	var ours []string
	for range 3 {
		ours = append(ours, nettest.NewNetNS(t))
	}
	refused := nettest.NewNetNS(t)
	isOurs := func(label string) bool {
		for _, n := range ours {
			if n == label {
				return true
			}
		}
		return false
	}
	tr := NewTracker(Options{})
	defer tr.Close()
	var mu sync.Mutex
	started := map[string]*fakeReader{}
	s := NewReaders(ReadersOptions[*fakeReader]{Tracker: tr, Max: 2,
		Start: func(p *Peer, userOwned bool, subscribed func()) (*fakeReader, error) {
			label := p.Label()
			switch {
			case label == refused:
				return nil, ErrNotEngaged
			case !isOurs(label): // other tests' namespaces on this host
				return nil, errors.New("not this test's")
			case userOwned:
				return nil, fmt.Errorf("namespace %s taken for a user's", label)
			}
			subscribed()
			r := &fakeReader{label: label}
			mu.Lock()
			started[label] = r
			mu.Unlock()
			return r, nil
		}})
	stop := make(chan struct{})
	s.Sync(stop)
	if c := s.Counts(); c.Read != 2 || c.Skipped < 1 || c.Limit != 2 {
		t.Fatalf("counts %+v, want 2 read, 1 or more skipped, limit 2", c)
	}
	var read []string
	s.Each(func(r *fakeReader) { read = append(read, r.label) })
	if len(read) != 2 || !isOurs(read[0]) || !isOurs(read[1]) {
		t.Fatalf("reading %v, want two of %v", read, ours)
	}
	for _, label := range read {
		if label == refused {
			t.Errorf("the refused namespace is read")
		}
	}

	// One read goes: the skipped one takes its place.
	gone := started[read[0]]
	nettest.MustIP(t, "netns", "del", gone.label)
	tr.scan(0, true)
	s.Sync(stop)
	if gone.closed != 1 {
		t.Errorf("the reader of a namespace that went was closed %d times, want 1", gone.closed)
	}
	if c := s.Counts(); c.Read != 2 {
		t.Errorf("counts %+v after one went, want 2 read", c)
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	var closed []string
	for label, r := range started {
		if r.closed != 1 {
			t.Errorf("reader of %s closed %d times, want once", label, r.closed)
		}
		closed = append(closed, label)
	}
	if len(started) != 3 {
		t.Errorf("started readers of %s, want all 3 of the test's", strings.Join(closed, ", "))
	}
	if c := s.Counts(); c.Read != 0 {
		t.Errorf("%d read after Close", c.Read)
	}
}
