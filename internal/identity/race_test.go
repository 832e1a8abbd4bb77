//go:build race

package identity

// The race detector makes everything several times slower.
func init() { quick *= 5 }
