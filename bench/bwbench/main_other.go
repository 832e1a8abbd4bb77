//go:build !linux

// Command bwbench is bwmon's benchmark suite; it runs on Linux only.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "bwbench: the benchmark suite needs Linux (network namespaces, conntrack), not %s\n", runtime.GOOS)
	os.Exit(1)
}
