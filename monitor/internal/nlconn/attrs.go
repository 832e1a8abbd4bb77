package nlconn

import "encoding/binary"

// nestedFlag marks a nested attribute (NLA_F_NESTED).
const nestedFlag = 0x8000

// Attrs calls f with the type (nested and byte-order flags cleared) and
// payload of each netlink attribute of b, in order. It reports false when
// an attribute's length does not fit b. It allocates nothing.
func Attrs(b []byte, f func(typ uint16, v []byte)) bool {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return false
		}
		f(binary.NativeEndian.Uint16(b[2:])&0x3fff, b[4:l])
		b = b[min(len(b), (l+3)&^3):]
	}
	return true
}

// AppendAttr appends an attribute of type typ holding v, padded to 4
// bytes.
func AppendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// BeginNested appends the header of a nested attribute of type typ,
// whose length EndNested sets once its attributes are appended; off is
// where it starts.
func BeginNested(b []byte, typ uint16) (_ []byte, off int) {
	off = len(b)
	b = binary.NativeEndian.AppendUint16(b, 0)
	return binary.NativeEndian.AppendUint16(b, nestedFlag|typ), off
}

// EndNested sets the length of the nested attribute that starts at off.
func EndNested(b []byte, off int) {
	binary.NativeEndian.PutUint16(b[off:], uint16(len(b)-off))
}
