// Package bench holds bwmon's benchmarks. They run on loopback only and
// need no privileges unless a benchmark says so:
//
//	go test -run x -bench . ./bench/
//
// BenchmarkPipeVsDirect reports the pipe's throughput as a share of a
// direct loopback connection's, measured in the same run.
package bench
