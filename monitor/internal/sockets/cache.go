package sockets

import (
	"sync"
	"time"
)

const (
	// FreshFor is how long a table read for the event path is used: a
	// socket opened a moment ago must be in it.
	FreshFor = 20 * time.Millisecond
	// KeepFor is how long a table read for the tick is used.
	KeepFor = time.Second
)

// Cache keeps the /proc/net tables read lately, by network namespace and
// table, on one clock: every namespace's lookups share it, so the watched
// namespace's table and another namespace's are read once a moment, by
// whoever asks first. It is safe for concurrent use; a table is read
// outside its lock, so a slow namespace does not hold up the others.
type Cache struct {
	now func() time.Time

	mu     sync.Mutex // guards the fields below
	tables map[tableKey]cached
	swept  time.Time
}

type tableKey struct {
	ns   uint64 // the namespace's inode
	name string // "tcp6"
}

type cached struct {
	at   time.Time
	rows []Socket
}

// NewCache makes an empty cache on the clock now (nil: time.Now).
func NewCache(now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{now: now, tables: map[tableKey]cached{}}
}

// Rows returns table name of namespace ns: the one read within FreshFor
// (fresh) or KeepFor, else what read returns now. A failed read is not
// kept.
func (c *Cache) Rows(ns uint64, name string, fresh bool, read func() ([]Socket, error)) ([]Socket, error) {
	ttl := KeepFor
	if fresh {
		ttl = FreshFor
	}
	k := tableKey{ns, name}
	c.mu.Lock()
	t, ok := c.tables[k]
	c.mu.Unlock()
	if ok && c.now().Sub(t.at) < ttl {
		return t.rows, nil
	}
	rows, err := read()
	if err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables[k] = cached{at: now, rows: rows}
	if now.Sub(c.swept) >= 10*KeepFor {
		// Tables of namespaces gone, or not asked for lately.
		c.swept = now
		for k, t := range c.tables {
			if now.Sub(t.at) >= KeepFor {
				delete(c.tables, k)
			}
		}
	}
	return rows, nil
}
