package nlconn_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
)

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
		{"two, one padded", slices.Concat(nltest.Msg(20, 1, []byte("abc")), nltest.Msg(nlconn.TypeDone, 1, []byte("wxyz"))), 0,
			[]seen{{20, 1, "abc"}, {nlconn.TypeDone, 1, "wxyz"}}, nil},
		{"stopped after the first", slices.Concat(nltest.Msg(20, 1, nil), nltest.Msg(21, 2, nil)), 1, []seen{{20, 1, ""}}, nil},
		{"length past the end", nltest.Msg(20, 1, []byte("abcdefgh"))[:20], 0, nil, nlconn.ErrMalformed},
		{"length below a header", []byte{4, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0, nil, nlconn.ErrMalformed},
		{"unpadded last message", nltest.Msg(20, 3, []byte("abc"))[:19], 0, []seen{{20, 3, "abc"}}, nil},
		{"shorter than a header", []byte{1, 2, 3}, 0, nil, nil},
		{"empty", nil, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []seen
			err := nlconn.Messages(tt.b, func(typ uint16, seq uint32, p []byte) bool {
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
			if got := nlconn.ErrorCode(tt.payload); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzMessages: no datagram makes the iterator panic, and every payload
// it hands out lies within the datagram.
func FuzzMessages(f *testing.F) {
	f.Add(slices.Concat(nltest.Msg(20, 1, []byte("abc")), nltest.Msg(nlconn.TypeDone, 1, nil)))
	f.Add(nltest.Msg(20, 1, []byte("abcdefgh"))[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_ = nlconn.Messages(b, func(_ uint16, _ uint32, p []byte) bool {
			total += nlconn.HeaderLen + len(p)
			return true
		})
		if total > len(b) {
			t.Fatalf("payloads of %d bytes from a datagram of %d", total, len(b))
		}
	})
}

// TestMessagesAllocs: iterating allocates nothing.
func TestMessagesAllocs(t *testing.T) {
	b := slices.Concat(nltest.Msg(20, 1, []byte("abc")), nltest.Msg(nlconn.TypeDone, 1, nil))
	n := 0
	if a := testing.AllocsPerRun(100, func() {
		_ = nlconn.Messages(b, func(uint16, uint32, []byte) bool { n++; return true })
	}); a != 0 {
		t.Errorf("Messages allocates %.1f times, want none", a)
	}
}
