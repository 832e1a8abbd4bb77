package config

import "testing"

func TestLocateKeys(t *testing.T) {
	const text = `# comment [not a table]
interval = "1s" # [x
[conntrack]
manage = true
[[app]]
name = "web"
match = [
  "nginx", # ] a bracket in a comment
  "a]b",
]
[[app]]
name = """
[fake]
x = 1
"""
matc = ['''
]''']
[ a . "b.c" ]
d = { e = 1 }
site."example.com" = true
[[monitor]]
[[monitor]]
type = "pipe"
`
	kl := locateKeys(text)
	tests := []struct {
		name, key string
		want      int
	}{
		{"top-level key", "interval", 2},
		{"table", "conntrack", 3},
		{"key of a table", "conntrack.manage", 4},
		{"array table", "app.0", 5},
		{"array table without index", "app", 5},
		{"key after a multi-line array", "app.1", 11},
		{"key of the second array table", "app.1.name", 12},
		{"key after a multi-line string", "app.1.matc", 16},
		{"not a table inside a string", "fake", 0},
		{"without index, as Undecoded names it", "app.matc", 16},
		{"first of several", "app.name", 6},
		{"quoted dotted table", `a."b.c"`, 18},
		{"implicit parent table", "a", 18},
		{"inline table's key: its parent", `a."b.c".d.e`, 19},
		{"quoted key", `a."b.c".site."example.com"`, 20},
		{"second array table", "monitor.1.type", 23},
		{"unknown: parent", "conntrack.mange", 3},
		{"unknown", "nothing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kl.line(tt.key); got != tt.want {
				t.Fatalf("line(%q) = %d, want %d; located: %v", tt.key, got, tt.want, kl)
			}
		})
	}
}
