package nlconn

import (
	"slices"
	"testing"
)

type attr struct {
	typ uint16
	v   string
}

// TestAttrsRoundTrip: attributes appended, plain and nested, read back
// as they were, the nested flag cleared.
func TestAttrsRoundTrip(t *testing.T) {
	b := AppendAttr(nil, 1, []byte("abc"))
	b, off := BeginNested(b, 2)
	b = AppendAttr(b, 3, []byte("wxyz"))
	b = AppendAttr(b, 4, nil)
	EndNested(b, off)
	b = AppendAttr(b, 5, []byte{9})

	var top, inner []attr
	if !Attrs(b, func(typ uint16, v []byte) {
		top = append(top, attr{typ, string(v)})
		if typ == 2 && !Attrs(v, func(typ uint16, v []byte) { inner = append(inner, attr{typ, string(v)}) }) {
			t.Errorf("nested attributes do not fit")
		}
	}) {
		t.Fatal("attributes do not fit")
	}
	wantInner := []attr{{3, "wxyz"}, {4, ""}}
	if len(top) != 3 || top[0] != (attr{1, "abc"}) || top[1].typ != 2 || top[2] != (attr{5, "\x09"}) {
		t.Errorf("top level %+v", top)
	}
	if !slices.Equal(inner, wantInner) {
		t.Errorf("nested %+v, want %+v", inner, wantInner)
	}
}

func TestAttrsMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"length past the end", []byte{8, 0, 1, 0, 1}, false},
		{"length below a header", []byte{2, 0, 1, 0}, false},
		{"trailing bytes shorter than a header", []byte{4, 0, 1, 0, 9}, true},
		{"empty", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Attrs(tt.b, func(uint16, []byte) {}); got != tt.want {
				t.Errorf("Attrs = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzAttrs: no input makes the attribute iterator panic.
func FuzzAttrs(f *testing.F) {
	f.Add(AppendAttr(AppendAttr(nil, 1, []byte("abc")), 2, nil))
	f.Add([]byte{8, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		Attrs(b, func(_ uint16, v []byte) { Attrs(v, func(uint16, []byte) {}) })
	})
}
