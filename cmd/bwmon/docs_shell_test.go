package main

// The shell examples of the README and docs/: each line that runs bwmon,
// make, curl or go names only what exists.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/state"
)

// docCommands knows what a documented command may name.
type docCommands struct {
	// flagSets makes the flag set of the agent ("") and of each
	// subcommand, and args is how many arguments each takes after its
	// flags.
	flagSets map[string]func() *flag.FlagSet
	args     map[string]int
	targets  map[string]bool        // the Makefile's targets
	served   func(path string) bool // whether the HTTP server has a route for path
}

// newDocCommands reads bwmon's flag sets, the Makefile and the HTTP routes.
func newDocCommands(t *testing.T) *docCommands {
	t.Helper()
	c := &docCommands{
		flagSets: map[string]func() *flag.FlagSet{"": func() *flag.FlagSet {
			fs, _ := newFlags(io.Discard)
			return fs
		}},
		args:    map[string]int{"": 0},
		targets: makeTargets(t),
		served:  servedPaths(t),
	}
	// The subcommands are those `bwmon -h` lists; their flag sets are
	// built inside each command, so they are read from its -h.
	help := commandHelp(t)
	subs := regexp.MustCompile(`bwmon (\w+) \[flags\]((?: [A-Z]+)*)`).FindAllStringSubmatch(help, -1)
	if len(subs) == 0 {
		t.Fatalf("bwmon -h names no subcommand (`bwmon NAME [flags]`):\n%s", help)
	}
	for _, m := range subs {
		sub, subHelp := m[1], commandHelp(t, m[1])
		c.flagSets[sub] = func() *flag.FlagSet { return helpFlagSet("bwmon "+sub, subHelp) }
		c.args[sub] = len(strings.Fields(m[2]))
	}
	return c
}

// commandHelp returns what `bwmon ARGS... -h` prints.
func commandHelp(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	run(append(args, "-h"), &stdout, &stderr)
	help := stdout.String() + stderr.String()
	if !strings.Contains(help, "usage:") {
		t.Fatalf("bwmon %s -h printed no usage:\n%s", strings.Join(args, " "), help)
	}
	return help
}

var helpFlagRE = regexp.MustCompile(`(?m)^  -([\w-]+)( \S+)?$`)

// helpFlagSet is a flag set with the flags a -h lists (PrintDefaults'
// lines "  -name" for a boolean, "  -name TYPE" for one that takes a value).
func helpFlagSet(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, m := range helpFlagRE.FindAllStringSubmatch(help, -1) {
		if m[2] == "" {
			fs.Bool(m[1], false, "")
		} else {
			fs.String(m[1], "", "")
		}
	}
	return fs
}

// makeTargets returns the Makefile's targets.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][\w-]*):([^=]|$)`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	if !targets["run"] || !targets["test"] {
		t.Fatalf("read no run and test targets from the Makefile: %v", targets)
	}
	return targets
}

// servedPaths asks the HTTP server's own mux which route a path takes.
func servedPaths(t *testing.T) func(string) bool {
	t.Helper()
	s, err := httpapi.New(httpapi.Options{Usage: noUsage{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux, ok := s.Handler().(*http.ServeMux)
	if !ok {
		t.Fatalf("httpapi.Server.Handler is a %T, not the *http.ServeMux this test asks for its routes: give httpapi a function that lists them", s.Handler())
	}
	return func(path string) bool {
		_, pattern := mux.Handler(httptest.NewRequest(http.MethodGet, path, nil))
		switch pattern {
		case "", "GET /api/": // nothing, or the API's catch-all 404
			return false
		case "GET /": // the page, its files, and a 404 for the rest
			return path == "/" || strings.HasPrefix(path, "/static/")
		}
		return true
	}
}

// shellCommands splits a shell line into simple commands at |, ||, &&, ;
// and &, each a list of words with their quotes removed. A word that begins
// with # begins a comment; redirections (>, >>, <, 2>&1, 2>/dev/null) are
// left out with their target. $VAR and $(...) stay as written.
func shellCommands(line string) ([][]string, error) {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord, redirect := false, false
	endWord := func() {
		if inWord && !redirect {
			words = append(words, w.String())
		}
		if inWord {
			redirect = false
		}
		w.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unclosed '")
			}
			w.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case ch == '"':
			inWord = true
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && strings.IndexByte("$`\"\\", line[j+1]) >= 0 {
					j++
				}
				w.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, errors.New(`unclosed "`)
			}
			i = j
		case ch == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		case ch == ' ' || ch == '\t':
			endWord()
		case ch == '#' && !inWord:
			endCmd()
			return cmds, nil
		case ch == '|' || ch == ';' || ch == '&':
			endCmd()
			if i+1 < len(line) && line[i+1] == ch {
				i++
			}
		case ch == '>' || ch == '<':
			if inWord && strings.Trim(w.String(), "0123456789") == "" {
				w.Reset() // the descriptor of 2>: part of the redirection
				inWord = false
			} else {
				endWord()
			}
			if i+1 < len(line) && line[i+1] == '>' {
				i++
			}
			if i+1 < len(line) && line[i+1] == '&' {
				i++
			}
			redirect = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	endCmd()
	return cmds, nil
}

// shellLines returns the command lines of a sh, shell or console block,
// with their line numbers: every line of a script (continuations joined),
// the lines after "$ " of a console session.
func shellLines(b mdBlock) (lines []string, at []int) {
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(b.text, "\n") {
		n := b.line + 1 + i
		if b.lang == "console" && cur.Len() == 0 {
			cmd, ok := strings.CutPrefix(l, "$ ")
			if !ok {
				continue
			}
			l = cmd
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines, at = append(lines, cur.String()), append(at, start)
		cur.Reset()
	}
	if cur.Len() > 0 {
		lines, at = append(lines, cur.String()), append(at, start)
	}
	return lines, at
}

var envAssignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// check checks one shell line; it returns what the line names that does
// not exist.
func (c *docCommands) check(line string) error {
	cmds, err := shellCommands(line)
	if err != nil {
		return err
	}
	var errs []error
	for _, words := range cmds {
		// What runs the command: sudo, env, a variable assignment, flock.
	prefix:
		for len(words) > 0 {
			switch w := words[0]; {
			case w == "sudo" || w == "env" || w == "time" || w == "exec":
				words = words[1:]
				for len(words) > 0 && strings.HasPrefix(words[0], "-") {
					words = words[1:]
				}
			case w == "flock" && len(words) > 1:
				words = words[2:]
			case envAssignRE.MatchString(w):
				words = words[1:]
			default:
				break prefix
			}
		}
		if len(words) == 0 {
			continue
		}
		switch args := words[1:]; filepath.Base(words[0]) {
		case "bwmon":
			errs = append(errs, c.checkBwmon(args))
		case "make":
			errs = append(errs, c.checkMake(args))
		case "curl":
			errs = append(errs, c.checkCurl(args))
		case "go":
			errs = append(errs, checkGo(args))
		}
	}
	return errors.Join(errs...)
}

// checkBwmon parses a bwmon command line with the real flag sets.
func (c *docCommands) checkBwmon(args []string) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub = args[0]
		if c.flagSets[sub] == nil {
			return fmt.Errorf("bwmon has no subcommand %q", sub)
		}
		args = args[1:]
	}
	fs := c.flagSets[sub]()
	name := strings.TrimSpace("bwmon " + sub)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if fs.NArg() != c.args[sub] {
		return fmt.Errorf("%s takes %d arguments after its flags, the line gives %q", name, c.args[sub], fs.Args())
	}
	return nil
}

// checkMake checks the targets of a make line, and bwmon's flags in
// RUNFLAGS.
func (c *docCommands) checkMake(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			if k == "RUNFLAGS" {
				words, err := shellCommands(v)
				if err != nil || len(words) > 1 {
					return fmt.Errorf("RUNFLAGS=%q: not one list of flags", v)
				}
				if len(words) == 1 {
					if err := c.checkBwmon(words[0]); err != nil {
						return fmt.Errorf("make RUNFLAGS: %w", err)
					}
				}
			}
			continue
		}
		if !c.targets[a] {
			return fmt.Errorf("the Makefile has no target %q", a)
		}
	}
	return nil
}

var localURLRE = regexp.MustCompile(`^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/|$)`)

// checkCurl checks that a curl line asks bwmon's HTTP server for a path it
// serves.
func (c *docCommands) checkCurl(args []string) error {
	found := false
	for _, a := range args {
		raw := a
		if localURLRE.MatchString(a) {
			raw = "http://" + a
		} else if !strings.HasPrefix(a, "http://") && !strings.HasPrefix(a, "https://") {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("curl %q: %v", a, err)
		}
		found = true
		path := u.Path
		if path == "" {
			path = "/"
		}
		if !c.served(path) {
			return fmt.Errorf("curl %q: bwmon serves no %s", a, path)
		}
	}
	if !found {
		return errors.New("curl names no URL of bwmon")
	}
	return nil
}

var testFuncRE = regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz|Example)\w*)\(`)

// checkGo checks that a go test or go run line names packages that exist
// and, for go test -run, tests that exist in them.
func checkGo(args []string) error {
	if len(args) == 0 || (args[0] != "test" && args[0] != "run") {
		return nil
	}
	var pkgs []string
	flags := map[string]string{} // -run, -fuzz, -bench
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "-") && (name == "run" || name == "fuzz" || name == "bench"):
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
				i++
			}
			flags[name] = value
		case strings.HasPrefix(a, "./") && !strings.HasSuffix(a, "..."):
			pkgs = append(pkgs, a)
		}
		if args[0] == "run" && len(pkgs) > 0 {
			break // the rest are the program's arguments
		}
	}
	// The patterns that must name something: -run, unless it only keeps
	// the tests out of a -bench or -fuzz run, and -fuzz.
	var patterns []string
	if _, ok := flags["bench"]; !ok && flags["fuzz"] == "" && flags["run"] != "" {
		patterns = append(patterns, flags["run"])
	}
	if flags["fuzz"] != "" {
		patterns = append(patterns, flags["fuzz"])
	}
	for _, p := range pkgs {
		dir := filepath.Join(repoRoot, p)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("go %s: no package %s", args[0], p)
		}
		if args[0] != "test" || len(patterns) == 0 {
			continue
		}
		var names []string
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			for _, m := range testFuncRE.FindAllStringSubmatch(string(b), -1) {
				names = append(names, m[1])
			}
		}
		for _, pattern := range patterns {
			top, _, _ := strings.Cut(pattern, "/")
			for _, alt := range strings.Split(top, "|") {
				re, err := regexp.Compile(alt)
				if err != nil {
					return fmt.Errorf("go test %q: %v", pattern, err)
				}
				matched := false
				for _, n := range names {
					matched = matched || re.MatchString(n)
				}
				if !matched {
					return fmt.Errorf("go test %q: %s has no test matching %q", pattern, p, alt)
				}
			}
		}
	}
	return nil
}

// TestDocsShellBlocks: every command line of a sh, shell or console block
// names only subcommands, flags, make targets, endpoints, packages and
// tests that exist.
func TestDocsShellBlocks(t *testing.T) {
	c := newDocCommands(t)
	checked := 0
	for _, d := range readDocs(t) {
		for _, b := range d.blocks {
			if b.lang != "sh" && b.lang != "shell" && b.lang != "console" {
				continue
			}
			lines, at := shellLines(b)
			for i, l := range lines {
				checked++
				if err := c.check(l); err != nil {
					t.Errorf("%s:%d: %s\n\t%v", d.name, at[i], l, err)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no shell examples found")
	}
}

// TestDocsShellChecks: the shell checks pass what exists and catch what
// does not.
func TestDocsShellChecks(t *testing.T) {
	c := newDocCommands(t)
	tests := []struct {
		name, line string
		problem    string // "" when the line is right
	}{
		{name: "agent flags", line: "./bin/bwmon -output json -interval 2s -state-dir '' -listen 127.0.0.1:0"},
		{name: "help", line: "bwmon report -h"},
		{name: "report", line: "sudo bwmon report -since 7d -period month -json  # comment -nope"},
		{name: "pipe", line: "bwmon pipe -max-conns 64 -rate-limit 1MiB/s 8080 example.org 2>&1 | tee log"},
		{name: "unknown flag", line: "bwmon -outptu json", problem: "flag provided but not defined: -outptu"},
		{name: "flag of another command", line: "bwmon report -listen :8000", problem: "-listen"},
		{name: "unknown subcommand", line: "bwmon serve", problem: `no subcommand "serve"`},
		{name: "pipe without target", line: "bwmon pipe 8080", problem: "takes 2 arguments"},
		{name: "flag that wants a value", line: "bwmon -check-config -config", problem: "flag needs an argument"},
		{name: "make targets", line: "make run RUNFLAGS=\"-output json\" && make test"},
		{name: "unknown target", line: "make tests", problem: `no target "tests"`},
		{name: "bad RUNFLAGS", line: "make run RUNFLAGS='-ouput json'", problem: "-ouput"},
		{name: "endpoints", line: "curl -s 'localhost:8000/api/v1/history?app=x' | jq . ; curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8000/metrics"},
		{name: "usage endpoint", line: "curl -s localhost:8000/api/v1/usage"},
		{name: "the page", line: "curl -s localhost:8000/"},
		{name: "unknown endpoint", line: "curl -s localhost:8000/api/v1/app", problem: "serves no /api/v1/app"},
		{name: "unknown page", line: "curl localhost:8000/index.php", problem: "serves no /index.php"},
		{name: "curl without URL", line: "curl -s", problem: "names no URL"},
		{name: "go test", line: "flock /tmp/bwmon-e2e.lock go test -count=1 -run 'TestUsage|TestFlagPrecedence/x' ./cmd/bwmon"},
		{name: "benchmarks", line: "go test -run x -bench . ./bench/"},
		{name: "unknown test", line: "go test -run 'TestUsage|TestNoSuchThing' ./cmd/bwmon", problem: `no test matching "TestNoSuchThing"`},
		{name: "unknown package", line: "go test ./nowhere", problem: "no package ./nowhere"},
		{name: "fuzz target", line: "go test -run '^$' -fuzz '^FuzzParseConfig$' -fuzztime 3s ./internal/config"},
		{name: "unknown fuzz target", line: "go test -run '^$' -fuzz=FuzzNoSuchParser ./cmd/bwmon", problem: `no test matching "FuzzNoSuchParser"`},
		{name: "go run", line: "go run ./bench/bwbench -root . -only micro"},
		{name: "other commands", line: "systemctl reload bwmon; journalctl -u bwmon -f > /dev/null"},
		{name: "unclosed quote", line: "bwmon -config 'x", problem: "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.check(tt.line)
			switch {
			case tt.problem == "" && err != nil:
				t.Errorf("check(%q): %v", tt.line, err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Errorf("check(%q) = %v, want an error with %q", tt.line, err, tt.problem)
			}
		})
	}
}

func TestShellLines(t *testing.T) {
	tests := []struct {
		name  string
		block mdBlock
		want  []string
	}{
		{name: "script", block: mdBlock{lang: "sh", text: "# a comment\nmake run \\\n  RUNFLAGS=-h\nmake test"},
			want: []string{"# a comment", "make run    RUNFLAGS=-h", "make test"}},
		{name: "console", block: mdBlock{lang: "console", text: "$ bwmon pipe 8080 example.org\noutput -nope\n$ make test"},
			want: []string{"bwmon pipe 8080 example.org", "make test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := shellLines(tt.block)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("shellLines = %q, want %q", got, tt.want)
			}
		})
	}
}

// noUsage is a usage source with nothing in it: the route exists.
type noUsage struct{}

func (noUsage) History(time.Time) (*state.History, error) { return nil, errors.New("no store") }
func (noUsage) Clock() (time.Time, *time.Location)        { return time.Now(), time.UTC }
