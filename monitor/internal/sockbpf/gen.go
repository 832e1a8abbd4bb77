package sockbpf

// The BPF programs (bpf/sockbpf.c) are compiled by bpf2go into
// sockbpf_bpfel.o and wrapped by sockbpf_bpfel.go; both are committed, so
// building bwmon needs no clang. `make generate` rebuilds them (Debian:
// clang, llvm, libbpf-dev); `make check-generate` fails when the committed
// ones are stale.
//
// -mcpu=v3: atomic exchange and fetch-and-or (Linux 5.12). The sources
// include only linux/bpf.h and libbpf's bpf_helpers.h (libbpf-dev).

//go:generate go tool bpf2go -cc clang -strip llvm-strip -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type slot -type overflow_key -type overflow_val -type exe_name -no-global-types sockbpf bpf/sockbpf.c
