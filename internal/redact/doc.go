// Package redact keeps credentials out of what bwmon prints: a webhook URL
// may carry a user and password, or a token in its path or query, and any
// message, log line or configuration error that quotes it shows only its
// scheme and host (URL, URLs), or nothing of the parts of it a message
// quotes (Values).
//
// It reads strings only: no I/O, no privileges.
package redact
