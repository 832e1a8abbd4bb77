package main

// The README and the pages of docs/ are tested, so that they cannot drift
// from the code: every TOML block loads with the real configuration loader,
// every shell line names commands, flags, make targets and endpoints that
// exist (docs_shell_test.go), configuration.md lists every key and flag
// (docs_reference_test.go), every fence is closed and every relative link
// points to a file and a heading that exist.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/bwmon/bwmon/internal/config"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// readmeMaxLines keeps the README a short page for a user; the rest
// belongs in docs/.
const readmeMaxLines = 250

// loadDocConfig loads a TOML example with the agent's configuration loader.
// It is the docs tests' one call of it.
func loadDocConfig(name, text string) (*config.Config, error) { return config.Parse(name, text) }

// mdDoc is a Markdown file as far as the tests read it.
type mdDoc struct {
	name     string // relative to the repository: "docs/alerts.md"
	path     string // as opened from this package
	lines    []string
	inBlock  []bool // lines[i] is inside a fenced block (fences included)
	blocks   []mdBlock
	headings []mdHeading
	problems []string // fences that would not render as meant
}

// mdBlock is a fenced code block.
type mdBlock struct {
	line    int    // of the opening fence, from 1
	lang    string // the info string's first word
	text    string
	invalid string // REASON of a `<!-- invalid: REASON -->` just before it
}

// mdHeading is an ATX heading and its GitHub anchor.
type mdHeading struct {
	line  int
	level int
	text  string
	slug  string
}

var (
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	invalidRE = regexp.MustCompile(`^<!-- invalid: (.+) -->$`)
)

// parseMarkdown reads text, the content of the file name.
func parseMarkdown(name, path, text string) *mdDoc {
	d := &mdDoc{name: name, path: path, lines: strings.Split(text, "\n")}
	d.inBlock = make([]bool, len(d.lines))
	var open *mdBlock
	var body []string
	slugs := map[string]int{}
	prev := "" // the last non-blank line outside a block
	for i, l := range d.lines {
		n := i + 1
		trimmed := strings.TrimLeft(l, " \t")
		fence := strings.HasPrefix(trimmed, "```")
		if open != nil {
			d.inBlock[i] = true
			switch {
			case fence && strings.TrimSpace(trimmed) == "```":
				if trimmed != l {
					d.problems = append(d.problems, fmt.Sprintf("%s:%d: indented fence: start it at the beginning of the line", name, n))
				}
				open.text = strings.Join(body, "\n")
				d.blocks = append(d.blocks, *open)
				open, body = nil, nil
			case fence:
				d.problems = append(d.problems, fmt.Sprintf("%s:%d: fence %q inside the block opened at line %d: that block is not closed", name, n, trimmed, open.line))
				body = append(body, l)
			default:
				body = append(body, l)
			}
			continue
		}
		if fence {
			d.inBlock[i] = true
			if trimmed != l {
				d.problems = append(d.problems, fmt.Sprintf("%s:%d: indented fence: start it at the beginning of the line", name, n))
			}
			info := strings.Fields(strings.TrimLeft(trimmed, "`"))
			if len(info) == 0 {
				d.problems = append(d.problems, fmt.Sprintf("%s:%d: fence without a language: write ```text for output, ```sh for commands", name, n))
				info = []string{""}
			}
			open = &mdBlock{line: n, lang: info[0]}
			if m := invalidRE.FindStringSubmatch(prev); m != nil {
				open.invalid = m[1]
			}
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			slug := githubSlug(m[2])
			if k := slugs[slug]; k > 0 {
				slugs[slug]++
				slug = fmt.Sprintf("%s-%d", slug, k)
			} else {
				slugs[slug] = 1
			}
			d.headings = append(d.headings, mdHeading{line: n, level: len(m[1]), text: m[2], slug: slug})
		}
		if strings.TrimSpace(l) != "" {
			prev = strings.TrimSpace(l)
		}
	}
	if open != nil {
		d.problems = append(d.problems, fmt.Sprintf("%s:%d: fence never closed: everything after it renders as code", name, open.line))
	}
	return d
}

// githubSlug is the anchor GitHub gives a heading: lower case, spaces as
// hyphens, punctuation other than - and _ left out.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r), unicode.IsNumber(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func readDoc(t *testing.T, name string) *mdDoc {
	t.Helper()
	path := filepath.Join(repoRoot, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseMarkdown(name, path, string(b))
}

// readDocs reads README.md and every page of docs/.
func readDocs(t *testing.T) []*mdDoc {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md: the documentation lives in docs/")
	}
	docs := []*mdDoc{readDoc(t, "README.md")}
	for _, p := range pages {
		docs = append(docs, readDoc(t, filepath.Join("docs", filepath.Base(p))))
	}
	return docs
}

// TestDocsFencesClosed: every fence is closed, starts its line and names a
// language, so that each page renders as meant (an unclosed ```toml once
// rendered the rest of the README as code).
func TestDocsFencesClosed(t *testing.T) {
	for _, d := range readDocs(t) {
		for _, p := range d.problems {
			t.Error(p)
		}
	}
}

// TestREADMEIsShort: the README stays a page a user reads through.
func TestREADMEIsShort(t *testing.T) {
	if n := len(readDoc(t, "README.md").lines); n > readmeMaxLines {
		t.Errorf("README.md has %d lines: keep it under %d and move the details to a page of docs/", n, readmeMaxLines)
	}
}

// checkTOMLBlock loads b, a block of the file name: it must load, or fail
// with its REASON when marked invalid.
func checkTOMLBlock(name string, b mdBlock) error {
	where := fmt.Sprintf("%s:%d", name, b.line)
	_, err := loadDocConfig(fmt.Sprintf("%s (the block at line %d)", name, b.line), b.text)
	switch {
	case b.invalid == "" && err != nil:
		return fmt.Errorf("%s: the TOML example does not load: %v", where, err)
	case b.invalid != "" && err == nil:
		return fmt.Errorf("%s: the TOML example marked invalid (%s) loads", where, b.invalid)
	case b.invalid != "" && !strings.Contains(err.Error(), b.invalid):
		return fmt.Errorf("%s: the TOML example marked invalid (%s) fails for another reason: %v", where, b.invalid, err)
	}
	return nil
}

// TestDocsTOMLBlocksLoad loads every ```toml block with the real loader.
func TestDocsTOMLBlocksLoad(t *testing.T) {
	valid, invalid := 0, 0
	for _, d := range readDocs(t) {
		for _, b := range d.blocks {
			if b.lang != "toml" {
				if b.invalid != "" {
					t.Errorf("%s:%d: <!-- invalid --> marks a %q block: only TOML examples are loaded", d.name, b.line, b.lang)
				}
				continue
			}
			if err := checkTOMLBlock(d.name, b); err != nil {
				t.Error(err)
			}
			if b.invalid == "" {
				valid++
			} else {
				invalid++
			}
		}
	}
	if valid == 0 || invalid == 0 {
		t.Errorf("found %d valid and %d invalid TOML examples: the docs show both", valid, invalid)
	}
}

// TestDocsJSONBlocksParse: every ```json block is JSON.
func TestDocsJSONBlocksParse(t *testing.T) {
	for _, d := range readDocs(t) {
		for _, b := range d.blocks {
			if b.lang == "json" && !json.Valid([]byte(b.text)) {
				var v any
				err := json.Unmarshal([]byte(b.text), &v)
				t.Errorf("%s:%d: the JSON example is not JSON: %v", d.name, b.line, err)
			}
		}
	}
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// prose returns d's text outside fenced blocks and code spans, where
// Markdown links are.
func (d *mdDoc) prose() string {
	var b strings.Builder
	for i, l := range d.lines {
		if !d.inBlock[i] {
			b.WriteString(l)
		}
		b.WriteByte('\n')
	}
	return stripCodeSpans(b.String())
}

// stripCodeSpans leaves out the code spans, between runs of one or more
// backticks.
func stripCodeSpans(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		n := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
		run := s[i : i+n]
		rest := s[i+n:]
		// The span ends at the next run of exactly as many backticks.
		end := -1
		for j := 0; j < len(rest); {
			k := strings.Index(rest[j:], run)
			if k < 0 {
				break
			}
			k += j
			m := len(rest[k:]) - len(strings.TrimLeft(rest[k:], "`"))
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 {
			b.WriteString(run) // a lone backtick is text
			s = rest
			continue
		}
		s = rest[end+n:]
	}
}

// linkProblems checks every relative link of d: its file exists, and its
// #anchor is a heading of that file. read reads a Markdown file by path.
func linkProblems(d *mdDoc, read func(path string) (*mdDoc, error)) []string {
	var out []string
	for _, m := range linkRE.FindAllStringSubmatch(d.prose(), -1) {
		target := m[1]
		if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(target) {
			continue // http:, https:, mailto:
		}
		file, anchor, _ := strings.Cut(target, "#")
		path := d.path
		if file != "" {
			path = filepath.Join(filepath.Dir(d.path), file)
			if _, err := os.Stat(path); err != nil {
				out = append(out, fmt.Sprintf("%s: link %q: no such file", d.name, target))
				continue
			}
		}
		if anchor == "" {
			continue
		}
		if !strings.HasSuffix(path, ".md") {
			out = append(out, fmt.Sprintf("%s: link %q: an anchor in a file that is not Markdown", d.name, target))
			continue
		}
		td := d
		if file != "" {
			var err error
			if td, err = read(path); err != nil {
				out = append(out, fmt.Sprintf("%s: link %q: %v", d.name, target, err))
				continue
			}
		}
		found := false
		for _, h := range td.headings {
			found = found || h.slug == anchor
		}
		if !found {
			out = append(out, fmt.Sprintf("%s: link %q: %s has no heading with the anchor #%s", d.name, target, td.name, anchor))
		}
	}
	return out
}

// readMarkdownFile reads a Markdown file by path, for linkProblems.
func readMarkdownFile(path string) (*mdDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name, err := filepath.Rel(repoRoot, path)
	if err != nil {
		name = path
	}
	return parseMarkdown(name, path, string(b)), nil
}

// TestDocsLinks: every relative link of the README and docs/ points to a
// file that exists, and to a heading of it that exists.
func TestDocsLinks(t *testing.T) {
	links := 0
	for _, d := range readDocs(t) {
		links += len(linkRE.FindAllString(d.prose(), -1))
		for _, p := range linkProblems(d, readMarkdownFile) {
			t.Error(p)
		}
	}
	if links == 0 {
		t.Error("no links found: the README links its pages")
	}
}

// TestDocsCheckersCatch: the checks above fail on what they are meant to
// catch.
func TestDocsCheckersCatch(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.md")
	if err := os.WriteFile(page, []byte("# Page\n\n## A `[[notify]]` rule\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		text    string
		problem string // in a fence problem, a TOML error or a link problem; "" for none
	}{
		{name: "closed", text: "```toml\ninterval = \"2s\"\n```\n"},
		{name: "never closed", text: "text\n```toml\ninterval = \"2s\"\n", problem: "never closed"},
		{name: "fence inside an open block", text: "```toml\ninterval = \"2s\"\n\n```text\nout\n```\n", problem: "is not closed"},
		{name: "indented fence", text: "- item\n  ```sh\n  make run\n  ```\n", problem: "indented fence"},
		{name: "no language", text: "```\nmake run\n```\n", problem: "fence without a language"},
		{name: "TOML that does not load", text: "```toml\nintervall = \"2s\"\n```\n", problem: "unknown key"},
		{name: "fragment that needs its table", text: "```toml\ncommand = [\"/bin/true\"]\n```\n", problem: "does not load"},
		{name: "invalid TOML marked", text: "<!-- invalid: interval 10ms is too short -->\n```toml\ninterval = \"10ms\"\n```\n"},
		{name: "marked invalid but loads", text: "<!-- invalid: too short -->\n```toml\ninterval = \"2s\"\n```\n", problem: "loads"},
		{name: "invalid for another reason", text: "<!-- invalid: too long -->\n```toml\ninterval = \"10ms\"\n```\n", problem: "another reason"},
		{name: "good link", text: "See [a rule](page.md#a-notify-rule) and [top](#x).\n\n# X\n"},
		{name: "missing file", text: "See [it](nope.md).\n", problem: "no such file"},
		{name: "missing anchor", text: "See [it](page.md#notify).\n", problem: "no heading with the anchor #notify"},
		{name: "missing anchor here", text: "See\n[it](#nowhere).\n", problem: "#nowhere"},
		{name: "link in code is not a link", text: "`[it](nope.md)` and ``[x](nope.md)``\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseMarkdown("test.md", filepath.Join(dir, "test.md"), tt.text)
			got := append([]string(nil), d.problems...)
			for _, b := range d.blocks {
				if b.lang == "toml" {
					if err := checkTOMLBlock(d.name, b); err != nil {
						got = append(got, err.Error())
					}
				}
			}
			got = append(got, linkProblems(d, readMarkdownFile)...)
			all := strings.Join(got, "\n")
			switch {
			case tt.problem == "" && len(got) > 0:
				t.Errorf("found problems in a good page:\n%s", all)
			case tt.problem != "" && !strings.Contains(all, tt.problem):
				t.Errorf("want a problem with %q, got:\n%s", tt.problem, all)
			}
		})
	}
}

func TestGithubSlug(t *testing.T) {
	tests := []struct{ name, heading, want string }{
		{name: "words", heading: "Run as a service", want: "run-as-a-service"},
		{name: "code and brackets", heading: "`[[monitor]]` pipe", want: "monitor-pipe"},
		{name: "underscore kept", heading: "`[notify_settings]`", want: "notify_settings"},
		{name: "punctuation", heading: "Containers, namespaces and forwarded traffic", want: "containers-namespaces-and-forwarded-traffic"},
		{name: "subcommand", heading: "`bwmon report`", want: "bwmon-report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := githubSlug(tt.heading); got != tt.want {
				t.Errorf("githubSlug(%q) = %q, want %q", tt.heading, got, tt.want)
			}
		})
	}
}
