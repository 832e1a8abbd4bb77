package subtest

import (
	"net"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
)

// Read is one answer of a Source's Read.
type Read struct {
	Msgs []netlink.Message
	Err  error
	// Took advances the source's clock before the answer (nil clock:
	// ignored).
	Took time.Duration
}

// Source answers Reads from a script; past its end it reads as closed.
type Source struct {
	// Advance, when set, moves the test's clock by each Read's Took.
	Advance func(time.Duration)
	Reads   []Read

	mu     sync.Mutex
	closed bool
}

// Read returns the next answer of the script, or net.ErrClosed past its
// end. It is called from one goroutine.
func (f *Source) Read() ([]netlink.Message, error) {
	if len(f.Reads) == 0 {
		return nil, net.ErrClosed
	}
	r := f.Reads[0]
	f.Reads = f.Reads[1:]
	if f.Advance != nil {
		f.Advance(r.Took)
	}
	return r.Msgs, r.Err
}

// Close records that the source was closed.
func (f *Source) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Closed reports whether Close was called.
func (f *Source) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Done reports whether the script was read to its end.
func (f *Source) Done() bool { return len(f.Reads) == 0 }
