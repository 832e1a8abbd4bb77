package nlconn

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// msg is a netlink message of type typ numbered seq with payload p,
// padded to 4 bytes.
func msg(typ uint16, seq uint32, p []byte) []byte {
	b := make([]byte, HeaderLen, HeaderLen+len(p)+3)
	binary.NativeEndian.PutUint32(b, uint32(HeaderLen+len(p)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

type seen struct {
	typ     uint16
	seq     uint32
	payload string
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		stopAt  int // f returns false at this message (1-based; 0: never)
		want    []seen
		wantErr error
	}{
		{"two, one padded", slices.Concat(msg(20, 1, []byte("abc")), msg(TypeDone, 1, []byte("wxyz"))), 0,
			[]seen{{20, 1, "abc"}, {TypeDone, 1, "wxyz"}}, nil},
		{"stopped after the first", slices.Concat(msg(20, 1, nil), msg(21, 2, nil)), 1, []seen{{20, 1, ""}}, nil},
		{"length past the end", msg(20, 1, []byte("abcdefgh"))[:20], 0, nil, ErrMalformed},
		{"length below a header", []byte{4, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0, nil, ErrMalformed},
		{"unpadded last message", msg(20, 3, []byte("abc"))[:19], 0, []seen{{20, 3, "abc"}}, nil},
		{"shorter than a header", []byte{1, 2, 3}, 0, nil, nil},
		{"empty", nil, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []seen
			err := Messages(tt.b, func(typ uint16, seq uint32, p []byte) bool {
				got = append(got, seen{typ, seq, string(p)})
				return len(got) != tt.stopAt
			})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("messages %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    int32
	}{
		{"ENOENT", binary.NativeEndian.AppendUint32(nil, uint32(0xfffffffe)), 2},
		{"acknowledgement", make([]byte, 4), 0},
		{"short", []byte{1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.payload); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzMessages: no datagram makes the iterator panic, and every payload
// it hands out lies within the datagram.
func FuzzMessages(f *testing.F) {
	f.Add(slices.Concat(msg(20, 1, []byte("abc")), msg(TypeDone, 1, nil)))
	f.Add(msg(20, 1, []byte("abcdefgh"))[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_ = Messages(b, func(_ uint16, _ uint32, p []byte) bool {
			total += HeaderLen + len(p)
			return true
		})
		if total > len(b) {
			t.Fatalf("payloads of %d bytes from a datagram of %d", total, len(b))
		}
	})
}

// TestMessagesAllocs: iterating allocates nothing.
func TestMessagesAllocs(t *testing.T) {
	b := slices.Concat(msg(20, 1, []byte("abc")), msg(TypeDone, 1, nil))
	n := 0
	if a := testing.AllocsPerRun(100, func() {
		_ = Messages(b, func(uint16, uint32, []byte) bool { n++; return true })
	}); a != 0 {
		t.Errorf("Messages allocates %.1f times, want none", a)
	}
}
