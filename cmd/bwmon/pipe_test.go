package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoServer echoes each connection on 127.0.0.1 until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

var listeningRE = regexp.MustCompile(`msg=listening .*\baddr=(\S+)`)

// listenAddr waits for the pipe's "listening" log line and returns its
// address.
func listenAddr(t *testing.T, log *nettest.SyncBuffer) string {
	var addr string
	waitFor(t, 10*time.Second, "the pipe to listen", func() bool {
		m := listeningRE.FindStringSubmatch(log.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// echoThrough sends n bytes through the pipe at addr and reads them back.
func echoThrough(t *testing.T, addr string, n int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("bwmon"), n/5)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(c); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the pipe: %d bytes, %v; want %d", len(got), err, len(msg))
	}
}

func TestPipeCommand(t *testing.T) {
	target := echoServer(t)
	var stdout, stderr nettest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- pipeCommand(ctx, func() {}, []string{"-max-conns", "10", "127.0.0.1:0", target}, &stdout, &stderr, 20*time.Millisecond)
	}()
	addr := listenAddr(t, &stderr)
	echoThrough(t, addr, 1000)
	echoThrough(t, addr, 2345)

	want := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  in 3345 \(3\.27 KiB\)  out 3345 \(3\.27 KiB\)  open 0$`)
	waitFor(t, 10*time.Second, "a line with the cumulative totals", func() bool { return want.MatchString(stdout.String()) })
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bwmon pipe did not stop")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; !want.MatchString(last) {
		t.Fatalf("last line %q, want the final totals", last)
	}
}

func TestPipeCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no arguments", args: nil, code: 2, want: "usage: bwmon pipe"},
		{name: "one argument", args: []string{"8080"}, code: 2, want: "want LISTEN and TARGET"},
		{name: "bad listen", args: []string{"localhost", "h:80"}, code: 2, want: `bad listen address "localhost"`},
		{name: "bad rate", args: []string{"-rate-limit", "fast", "8080", "h"}, code: 2, want: `bad rate "fast"`},
		{name: "negative max conns", args: []string{"-max-conns", "-1", "8080", "h"}, code: 2, want: "must not be negative"},
		{name: "port in use", args: []string{"PORT", "127.0.0.1:1"}, code: 1, want: "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.args) > 0 && tt.args[0] == "PORT" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				tt.args[0] = ln.Addr().String()
			}
			var stdout, stderr nettest.SyncBuffer
			code := run(append([]string{"pipe"}, tt.args...), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

// TestPipeCommandLimits checks the limits `bwmon pipe` gives its pipe, as
// its "listening" line reports them: the defaults, and 0 for none.
func TestPipeCommandLimits(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{name: "defaults", want: "max_conns=512 idle_timeout=10m0s"},
		{name: "zero is no limit", flags: []string{"-max-conns", "0", "-idle-timeout", "0"}, want: "max_conns=none idle_timeout=never"},
		{name: "set", flags: []string{"-max-conns", "7", "-idle-timeout", "90s"}, want: "max_conns=7 idle_timeout=1m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr nettest.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			exit := make(chan int, 1)
			go func() {
				exit <- pipeCommand(ctx, func() {}, append(tt.flags, "127.0.0.1:0", "127.0.0.1:1"), &stdout, &stderr, time.Hour)
			}()
			listenAddr(t, &stderr)
			cancel()
			if code := <-exit; code != 0 {
				t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
			}
			if line := regexp.MustCompile(`msg=listening .*`).FindString(stderr.String()); !strings.Contains(line, tt.want) {
				t.Fatalf("listening line %q, want %q", line, tt.want)
			}
		})
	}
}

// TestAgentRunsPipe runs the agent as `bwmon -config F -output json` with a
// file that lists only a pipe: no conntrack, no root needed.
func TestAgentRunsPipe(t *testing.T) {
	target := echoServer(t)
	path := filepath.Join(t.TempDir(), "pipe.toml")
	conf := "interval = \"100ms\"\n[[monitor]]\ntype = \"pipe\"\nlisten = \"127.0.0.1:0\"\ntarget = \"" + target + "\"\nname = \"echo\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
	conf += fmt.Sprintf("[state]\ndir = %q\n", t.TempDir()) // not the host's /var/lib/bwmon
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr nettest.SyncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-config", path, "-output", "json"}, &stdout, &stderr) }()
	addr := listenAddr(t, &stderr)
	echoThrough(t, addr, 1000)
	echoThrough(t, addr, 500)

	var found model.AppUsage
	waitFor(t, 10*time.Second, "a JSON line with the pipe's totals", func() bool {
		sc := bufio.NewScanner(strings.NewReader(stdout.String()))
		for sc.Scan() {
			var s model.Snapshot
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
			}
			for _, a := range s.Apps {
				if a.App == "echo" && a.BytesIn == 1500 && a.BytesOut == 1500 {
					found = a
					return true
				}
			}
		}
		return false
	})
	if len(found.PIDs) != 0 {
		t.Fatalf("pipe app %+v lists PIDs, want none", found)
	}

	// run stops on SIGTERM; its handler is installed before the pipe
	// listens, so the signal cannot kill the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("agent exit status %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
}
