package abi

import "encoding/binary"

// linux_dirent64, as getdents64(2) writes it:
//
//	u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]
//
// d_name is NUL-terminated and the record is padded to 8 bytes.
const direntHeader = 19

// DirentLen returns d_reclen for a name of n bytes.
func DirentLen(n int) int { return (direntHeader + n + 1 + 7) &^ 7 }

// PutDirent encodes one linux_dirent64 at the start of buf and returns its
// length, or 0 if buf is too short to hold it.
func PutDirent(buf []byte, ino uint64, off int64, typ uint8, name string) int {
	n := DirentLen(len(name))
	if len(buf) < n {
		return 0
	}
	binary.LittleEndian.PutUint64(buf[0:], ino)
	binary.LittleEndian.PutUint64(buf[8:], uint64(off))
	binary.LittleEndian.PutUint16(buf[16:], uint16(n))
	buf[18] = typ
	copy(buf[direntHeader:], name)
	clear(buf[direntHeader+len(name) : n])
	return n
}

// Dirent is one decoded linux_dirent64.
type Dirent struct {
	Ino  uint64
	Off  int64
	Type uint8
	Name string
}

// ParseDirents decodes the records getdents64 wrote into buf[:n] and
// appends them to ds. A malformed record ends the parse.
func ParseDirents(buf []byte, ds []Dirent) []Dirent {
	for len(buf) >= direntHeader {
		reclen := int(binary.LittleEndian.Uint16(buf[16:]))
		if reclen < direntHeader+1 || reclen > len(buf) {
			break
		}
		name := buf[direntHeader:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		ds = append(ds, Dirent{
			Ino:  binary.LittleEndian.Uint64(buf[0:]),
			Off:  int64(binary.LittleEndian.Uint64(buf[8:])),
			Type: buf[18],
			Name: string(name),
		})
		buf = buf[reclen:]
	}
	return ds
}
