//go:build !linux

package main

// unitOf names the systemd service of a process on Linux only.
func unitOf(pid int) string { return "" }
