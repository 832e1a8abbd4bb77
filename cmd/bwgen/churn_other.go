//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

func tcpChurn(addr string, total, size int64, k int, cps float64, ports int) error {
	return fmt.Errorf("tcp-churn: Linux only, not %s", runtime.GOOS)
}

func tcpChurnSink(addr string, k int, ready string, ports int) error {
	return fmt.Errorf("tcp-churn-sink: Linux only, not %s", runtime.GOOS)
}
