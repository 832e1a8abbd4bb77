package httpapi

// Accessors the tests read a Server by; the agent serves through Serve and
// reads these counters through /metrics and /api/v1/stats.

// Dropped returns how many WebSocket clients were dropped for being slow:
// their queue was full, or a write timed out.
func (s *Server) Dropped() uint64 { return s.hub.droppedSlow.Load() + s.hub.droppedTimeout.Load() }

// Refused returns how many WebSocket clients were refused for being beyond
// MaxClients.
func (s *Server) Refused() uint64 { return s.hub.refused.Load() }
