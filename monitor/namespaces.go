package monitor

// NamespaceStats says how the host's other network namespaces fare with
// [conntrack] namespaces = "all" (Conntrack.Namespaces).
type NamespaceStats struct {
	// Read is how many namespaces' conntrack tables are read now.
	Read int
	// Skipped is how many were not read at the last look because Limit
	// were read already; their flows stay with the watched namespace's
	// table.
	Skipped int
	// Unread is how many could not be read, or were not to be: no
	// conntrack running there and bwmon not allowed to start it.
	Unread int
	// Limit is ConntrackConfig.MaxNamespaces as applied.
	Limit int
}
