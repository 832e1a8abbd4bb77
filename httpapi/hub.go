package httpapi

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The hub follows gorilla/websocket's chat example: one reader and one
// writer goroutine per connection, a bounded send queue per client, pings on
// a ticker answered by pongs that extend the read deadline. Unlike the
// example, the client set is a map under a mutex rather than a goroutine fed
// by channels: broadcast is then a loop of non-blocking sends that the tick
// goroutine runs itself, and cannot wait behind a busy hub loop.
type hub struct {
	log *slog.Logger
	// max is how many clients are served at once; more are refused.
	max int
	// queue is each client's send queue length; a client whose queue is
	// full when a tick comes is dropped.
	queue        int
	pingInterval time.Duration
	writeWait    time.Duration

	mu      sync.Mutex // guards the following four fields
	clients map[*client]struct{}
	// reserved counts the upgrades under way that hold a place among
	// max; serve turns one into a client, release gives it back.
	reserved int
	closed   bool
	wg       sync.WaitGroup // the clients' goroutines

	droppedSlow    atomic.Uint64 // clients dropped for a full queue
	droppedTimeout atomic.Uint64 // clients dropped for a write timeout
	refused        atomic.Uint64 // upgrades refused at max
	// warnedFull is set once the refusal of a client at max was logged
	// at warning level: later ones are logged at debug level only.
	warnedFull atomic.Bool
}

type client struct {
	conn *websocket.Conn
	// send carries the ticks to write; the hub closes it to make the
	// writer say goodbye and quit.
	send chan *websocket.PreparedMessage
}

func newHub(logger *slog.Logger, maxClients, queue int, ping time.Duration) *hub {
	return &hub{log: logger, max: maxClients, queue: queue, pingInterval: ping, writeWait: 10 * time.Second,
		clients: make(map[*client]struct{})}
}

// reserve takes a place for a client about to be upgraded, or reports
// false when max clients are connected or being upgraded. A closed hub
// always has room, to say goodbye.
func (h *hub) reserve() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed && len(h.clients)+h.reserved >= h.max {
		return false
	}
	h.reserved++
	return true
}

// release gives back a place reserve took, for an upgrade that failed.
func (h *hub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reserved--
}

// refuse counts a client turned away at max. The first refusal is a
// warning; the others, which a page retrying in a loop could make many,
// are debug lines.
func (h *hub) refuse(remote string) {
	h.refused.Add(1)
	if h.warnedFull.CompareAndSwap(false, true) {
		h.log.Warn("refusing websocket clients beyond the limit: raise [limits] websocket_clients if that many pages are open",
			"limit", h.max, "remote", remote)
		return
	}
	h.log.Debug("refusing websocket client beyond the limit", "limit", h.max, "remote", remote)
}

// serve runs conn, whose place reserve took, until it fails, the client
// goes away or the hub closes. It returns at once; the client's goroutines
// are the hub's to wait for.
func (h *hub) serve(conn *websocket.Conn) {
	c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, h.queue)}
	h.mu.Lock()
	h.reserved--
	if h.closed {
		h.mu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	h.clients[c] = struct{}{}
	h.wg.Add(2)
	h.mu.Unlock()
	h.log.Debug("websocket client connected", "remote", conn.RemoteAddr().String())
	go func() {
		defer h.wg.Done()
		h.readPump(c)
	}()
	go func() {
		defer h.wg.Done()
		h.writePump(c)
	}()
}

// broadcast queues msg for every client without waiting: a client whose
// queue is full is dropped and its connection closed.
func (h *hub) broadcast(msg *websocket.PreparedMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.send <- msg:
		default:
			// Its writer is stuck on a full socket, or far behind:
			// closing the connection releases it at once. The page
			// reconnects and reloads what it missed.
			h.removeLocked(c)
			c.conn.Close()
			h.droppedSlow.Add(1)
			h.log.Info("dropping slow websocket client", "remote", c.conn.RemoteAddr().String(), "queue", h.queue)
		}
	}
}

// remove forgets c and tells its writer to stop; safe more than once. It
// reports whether c was still there.
func (h *hub) remove(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.removeLocked(c)
}

func (h *hub) removeLocked(c *client) bool {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c.send)
		return true
	}
	return false
}

// writeFailed forgets c after a failed write; a write that timed out
// counts as a client dropped for being slow (a peer that went away is
// not).
func (h *hub) writeFailed(c *client, err error) {
	var ne net.Error
	if h.remove(c) && errors.As(err, &ne) && ne.Timeout() {
		h.droppedTimeout.Add(1)
		h.log.Info("dropping slow websocket client: a write timed out", "remote", c.conn.RemoteAddr().String(), "timeout", h.writeWait)
	}
}

// count returns the number of connected clients.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// close disconnects every client and blocks until their goroutines have
// exited. Clients arriving afterwards are turned away. Safe more than once.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		h.removeLocked(c)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// readPump reads (and discards) what the client sends, so that pongs and
// close frames are processed; a client silent for two ping intervals is
// dead.
func (h *hub) readPump(c *client) {
	defer func() {
		h.remove(c)
		c.conn.Close() // releases a writer blocked on a dead peer
	}()
	pongWait := 2 * h.pingInterval
	c.conn.SetReadLimit(512)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			h.log.Debug("websocket client gone", "remote", c.conn.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// writePump writes the queued ticks and the pings. When the hub closes the
// queue it sends a close frame (1001, going away) and closes the
// connection.
func (h *hub) writePump(c *client) {
	ping := time.NewTicker(h.pingInterval)
	defer func() {
		ping.Stop()
		c.conn.Close() // ends readPump
	}()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				_ = c.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
				return
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(h.writeWait))
			if err := c.conn.WritePreparedMessage(msg); err != nil {
				h.writeFailed(c, err)
				return
			}
		case <-ping.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(h.writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				h.writeFailed(c, err)
				return
			}
		}
	}
}
