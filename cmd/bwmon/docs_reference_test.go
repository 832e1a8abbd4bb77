package main

// docs/configuration.md is the reference of every key and every flag: its
// tables are checked against config.example.toml, its own TOML examples and
// bwmon's flag sets.

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// docSection is what a heading of configuration.md holds up to the next
// heading: its table rows (outside blocks) and its fenced blocks.
type docSection struct {
	heading mdHeading
	rows    []string
	blocks  []mdBlock
}

// sections returns d's sections, one per heading.
func (d *mdDoc) sections() []docSection {
	var out []docSection
	for i, h := range d.headings {
		end := len(d.lines) + 1
		if i+1 < len(d.headings) {
			end = d.headings[i+1].line
		}
		s := docSection{heading: h}
		for n := h.line + 1; n < end; n++ {
			if l := d.lines[n-1]; !d.inBlock[n-1] && strings.HasPrefix(l, "| `") {
				s.rows = append(s.rows, l)
			}
		}
		for _, b := range d.blocks {
			if b.line > h.line && b.line < end {
				s.blocks = append(s.blocks, b)
			}
		}
		out = append(out, s)
	}
	return out
}

// firstCell returns the first cell of a table row.
func firstCell(row string) string {
	cells := strings.Split(row, " | ")
	return strings.TrimPrefix(cells[0], "| ")
}

var (
	tableHeadingRE = regexp.MustCompile("^`\\[\\[?([a-z_]+)\\]\\]?`(?: (\\w+))?$")
	keyCellRE      = regexp.MustCompile("`([a-z_]+)`")
)

// tableOf tells which TOML table a heading of configuration.md documents:
// "" for "Top level", "conntrack" for "`[conntrack]`", "monitor pipe" for
// "`[[monitor]]` pipe".
func tableOf(heading string) (string, bool) {
	if heading == "Top level" {
		return "", true
	}
	m := tableHeadingRE.FindStringSubmatch(heading)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1] + " " + m[2]), true
}

// exampleKey is a key of config.example.toml, set or shown commented out.
type exampleKey struct {
	table, key string
	value      string // as written, when set (a built-in default)
	set        bool
}

// exampleKeys reads every key of config.example.toml, those commented out
// included, with the table it is in ("monitor pipe" for a [[monitor]] with
// type = "pipe").
func exampleKeys(t *testing.T) []exampleKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`^(#\s?)?\[\[?([a-z_]+)\]\]?\s*$`)
	keyLine := regexp.MustCompile(`^(#\s?)?([a-z_]+) = (.+)$`)
	var keys []exampleKey
	table := ""
	for _, l := range strings.Split(string(b), "\n") {
		if m := header.FindStringSubmatch(l); m != nil {
			table = m[2]
			continue
		}
		m := keyLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[2] == "type" && table == "monitor" {
			table += " " + strings.Trim(m[3], `"`)
		}
		keys = append(keys, exampleKey{table: table, key: m[2], value: m[3], set: m[1] == ""})
	}
	if len(keys) < 30 {
		t.Fatalf("read only %d keys from config.example.toml: %+v", len(keys), keys)
	}
	return keys
}

// blockKeys returns the keys a TOML example sets in table ("" for the top
// level; "monitor pipe" is the monitor table).
func blockKeys(t *testing.T, text, table string) map[string]bool {
	t.Helper()
	table, _, _ = strings.Cut(table, " ")
	var v map[string]any
	md, err := toml.Decode(text, &v)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, k := range md.Keys() {
		switch {
		case table == "" && len(k) == 1 && md.Type(k...) != "Hash" && md.Type(k...) != "ArrayHash":
			keys[k[0]] = true
		case table != "" && len(k) == 2 && k[0] == table:
			keys[k[1]] = true
		}
	}
	return keys
}

// TestDocsConfigurationListsEveryKey: each table of the file has a section
// in configuration.md whose table lists every key of config.example.toml
// with its default, and whose TOML example (loaded by TestDocsTOMLBlocksLoad)
// sets exactly the keys the table lists.
func TestDocsConfigurationListsEveryKey(t *testing.T) {
	d := readDoc(t, "docs/configuration.md")
	rows := map[string]map[string]string{} // table → key → row
	for _, s := range d.sections() {
		table, ok := tableOf(s.heading.text)
		if !ok {
			continue
		}
		if rows[table] != nil {
			t.Errorf("configuration.md:%d: a second section for the table %q", s.heading.line, table)
		}
		rows[table] = map[string]string{}
		for _, r := range s.rows {
			for _, m := range keyCellRE.FindAllStringSubmatch(firstCell(r), -1) {
				rows[table][m[1]] = r
			}
		}
		shown := map[string]bool{}
		for _, b := range s.blocks {
			if b.lang == "toml" && b.invalid == "" {
				for k := range blockKeys(t, b.text, table) {
					shown[k] = true
				}
			}
		}
		for k := range rows[table] {
			if !shown[k] {
				t.Errorf("configuration.md:%d: %q lists %s, which its TOML example does not set", s.heading.line, s.heading.text, k)
			}
		}
		for k := range shown {
			if rows[table][k] == "" {
				t.Errorf("configuration.md:%d: the TOML example of %q sets %s, which its table does not list", s.heading.line, s.heading.text, k)
			}
		}
	}
	for _, k := range exampleKeys(t) {
		name := strings.TrimSpace(k.table + "." + k.key)
		row, ok := rows[k.table][k.key]
		switch {
		case rows[k.table] == nil:
			t.Errorf("configuration.md has no section for the table of %s (config.example.toml)", name)
		case !ok:
			t.Errorf("configuration.md does not list %s (config.example.toml)", name)
		case k.set && !strings.Contains(strings.Split(row, " | ")[1], "`"+k.value+"`"):
			t.Errorf("configuration.md gives %s another default than config.example.toml's %s:\n%s", name, k.value, row)
		}
	}
}

// documentedFlags returns the flags of the table under the heading
// "`bwmon`" or "`bwmon SUB`" of configuration.md.
func documentedFlags(d *mdDoc, command string) (map[string]bool, bool) {
	for _, s := range d.sections() {
		if s.heading.text != "`"+command+"`" {
			continue
		}
		flags := map[string]bool{}
		for _, r := range s.rows {
			if m := regexp.MustCompile("^`-([a-z-]+)").FindStringSubmatch(firstCell(r)); m != nil {
				flags[m[1]] = true
			}
		}
		return flags, true
	}
	return nil, false
}

// TestDocsListEveryFlag keeps the flag tables of configuration.md and the
// flag sets of bwmon and its subcommands in step, both ways.
func TestDocsListEveryFlag(t *testing.T) {
	d := readDoc(t, "docs/configuration.md")
	c := newDocCommands(t)
	var subs []string
	for sub := range c.flagSets {
		subs = append(subs, sub)
	}
	sort.Strings(subs)
	for _, sub := range subs {
		command := strings.TrimSpace("bwmon " + sub)
		documented, ok := documentedFlags(d, command)
		if !ok {
			t.Errorf("configuration.md has no \"### `%s`\" flag table", command)
			continue
		}
		c.flagSets[sub]().VisitAll(func(f *flag.Flag) {
			if !documented[f.Name] {
				t.Errorf("%s -%s is missing from configuration.md", command, f.Name)
			}
			delete(documented, f.Name)
		})
		for name := range documented {
			t.Errorf("configuration.md lists %s -%s, which does not exist", command, name)
		}
	}
}

func TestTableOf(t *testing.T) {
	tests := []struct {
		name, heading, want string
		ok                  bool
	}{
		{name: "top level", heading: "Top level", want: "", ok: true},
		{name: "table", heading: "`[conntrack]`", want: "conntrack", ok: true},
		{name: "array of tables", heading: "`[[notify]]`", want: "notify", ok: true},
		{name: "monitor type", heading: "`[[monitor]]` pipe", want: "monitor pipe", ok: true},
		{name: "not a table", heading: "Flags", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tableOf(tt.heading)
			if got != tt.want || ok != tt.ok {
				t.Errorf("tableOf(%q) = %q, %v; want %q, %v", tt.heading, got, ok, tt.want, tt.ok)
			}
		})
	}
}
