package sockets

import (
	"errors"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// Source is how a network namespace's sockets are reached.
type Source interface {
	// DialDiag opens a sock_diag socket in the namespace.
	DialDiag() (*Diag, error)
	// ReadTable reads and parses (ParseProcNet) the /proc/net table
	// name as the namespace sees it.
	ReadTable(name string) ([]Socket, error)
}

// ErrGone is a lookup in a namespace that was closed: it went away.
var ErrGone = errors.New("network namespace is gone")

// errNoDiag says sock_diag cannot be had in the namespace.
var errNoDiag = errors.New("no sock_diag socket in the network namespace")

// Namespace looks up the sockets of one network namespace: TCP and UDP by
// sock_diag, through up to maxDiag sockets opened when first needed (the
// /proc/net tables where none can be opened); ping and raw sockets in the
// /proc/net tables, kept in a shared Cache. It is safe for concurrent use:
// up to maxDiag lookups run at once, others wait for a socket.
type Namespace struct {
	key   uint64 // the namespace's inode: its tables' key in cache
	src   Source
	cache *Cache
	slots chan struct{} // one per sock_diag socket in use

	mu     sync.Mutex // guards the fields below
	free   []*Diag
	dialed int  // sockets opened so far
	noDiag bool // opening the first failed: use the /proc/net tables
	closed bool
}

// NewNamespace makes the lookups of the namespace whose inode is key,
// reached through src, with up to maxDiag sock_diag sockets (at least
// one) and the tables of cache.
func NewNamespace(key uint64, src Source, maxDiag int, cache *Cache) *Namespace {
	return &Namespace{key: key, src: src, cache: cache, slots: make(chan struct{}, max(maxDiag, 1))}
}

// acquire returns a sock_diag socket for the caller's use alone, opening
// one when none is free; errNoDiag when the namespace has none, ErrGone
// when it was closed.
func (n *Namespace) acquire() (*Diag, error) {
	n.slots <- struct{}{}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		<-n.slots
		return nil, ErrGone
	case len(n.free) > 0:
		d := n.free[len(n.free)-1]
		n.free = n.free[:len(n.free)-1]
		n.mu.Unlock()
		return d, nil
	case n.noDiag:
		n.mu.Unlock()
		<-n.slots
		return nil, errNoDiag
	}
	n.mu.Unlock()
	d, err := n.src.DialDiag()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		// A namespace where no socket could ever be opened has none (no
		// CAP_SYS_ADMIN to enter it); a later failure is passing.
		n.noDiag = n.dialed == 0
		<-n.slots
		return nil, err
	}
	n.dialed++
	return d, nil
}

// release hands back a socket acquire returned.
func (n *Namespace) release(d *Diag) {
	n.mu.Lock()
	if n.closed {
		d.Close()
	} else {
		n.free = append(n.free, d)
	}
	n.mu.Unlock()
	<-n.slots
}

// List calls f with every TCP and UDP socket of the namespace (IPv4 and
// IPv6), with its inode and cookie, by sock_diag dumps: one pass for the
// sockets that were open before the agent watched them.
func (n *Namespace) List(f func(Socket)) error {
	d, err := n.acquire()
	if err != nil {
		return err
	}
	defer n.release(d)
	for _, proto := range []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
			if err := d.List(proto, family, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup finds the socket at the local end local of a flow of protocol
// proto whose peer is remote. With fresh (the event path) a TCP socket
// not accepted yet is waited for a moment (Diag.LookupAccepted) and the
// tables read are no older than FreshFor. found is false when there is no
// such socket; a socket found may have no inode (time-wait). err says the
// namespace's sockets could not be read at all.
func (n *Namespace) Lookup(proto uint8, local, remote netip.AddrPort, fresh bool) (s Socket, found bool, err error) {
	v6 := !local.Addr().Unmap().Is4()
	switch proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
		d, derr := n.acquire()
		if derr == nil {
			if fresh {
				s, found, err = d.LookupAccepted(proto, local, remote)
			} else {
				s, found, err = d.Lookup(proto, local, remote)
			}
			n.release(d)
			if err == nil {
				return s, found, nil
			}
		} else if errors.Is(derr, ErrGone) {
			return Socket{}, false, derr
		}
		return n.match(TableName(proto, v6), local, remote, local.Port(), fresh)
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		// A ping socket (by echo ID), else a raw ICMP socket.
		s, found, err = n.match(TableName(proto, v6), local, remote, local.Port(), fresh)
		if found {
			return s, found, err
		}
		if raw, ok, _ := n.match(TableName(0, v6), local, remote, uint16(proto), fresh); ok {
			return raw, true, nil
		}
		return Socket{}, false, err
	default:
		return n.match(TableName(proto, v6), local, remote, uint16(proto), fresh)
	}
}

// match finds the socket of table name by the package's rule.
func (n *Namespace) match(name string, local, remote netip.AddrPort, port uint16, fresh bool) (Socket, bool, error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return Socket{}, false, ErrGone
	}
	rows, err := n.cache.Rows(n.key, name, fresh, func() ([]Socket, error) { return n.src.ReadTable(name) })
	if err != nil {
		return Socket{}, false, err
	}
	s, ok := Match(rows, local, remote, port)
	return s, ok, nil
}

// Listener returns the inode of the TCP socket listening where local is;
// false when there is none or sock_diag cannot be had.
func (n *Namespace) Listener(local netip.AddrPort) (uint64, bool) {
	d, err := n.acquire()
	if err != nil {
		return 0, false
	}
	defer n.release(d)
	return d.Listener(local)
}

// Close closes the sock_diag sockets, those in use once their lookup is
// done: a socket keeps its namespace alive, so a namespace that went away
// must not keep one. Lookups after it fail with ErrGone. It does not
// block, and is safe more than once.
func (n *Namespace) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	var errs []error
	for _, d := range n.free {
		errs = append(errs, d.Close())
	}
	n.free = nil
	return errors.Join(errs...)
}
