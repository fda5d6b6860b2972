package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzWriterRoundTrip writes one entry from fuzzed fields; whatever
// WriteHeader accepts, Go's archive/tar must read back unchanged.
func FuzzWriterRoundTrip(f *testing.F) {
	f.Add("./a", "", uint32(0o644), uint32(0), uint32(0), int64(0), int64(0), "user.a", []byte("v"), uint16(10), uint16(0), uint16(0))
	f.Add("./"+strings.Repeat("d/", 80)+"é", strings.Repeat("x", 200), uint32(0o7777), uint32(1<<31), uint32(3000000),
		int64(-86400), int64(250000000), "security.selinux", []byte{0, '\n', 0xff}, uint16(5000), uint16(1000), uint16(100))
	f.Add("./\xff\xfe", "\x80", uint32(0o4755), uint32(7), uint32(8), int64(1<<40), int64(999999999), "trusted.x", []byte{}, uint16(600), uint16(600), uint16(0))
	f.Fuzz(func(t *testing.T, name, link string, mode, uid, gid uint32, sec, nsec int64,
		xname string, xval []byte, size, dataOff, dataLen uint16) {
		h := Header{Name: name, Typeflag: TypeReg, Mode: mode & 0o7777, Uid: uid, Gid: gid,
			Mtime: Time{sec, nsec}, Linkname: link, Size: int64(size), Xattrs: []Xattr{{xname, xval}}}
		if sec < -1<<40 || sec > 1<<40 { // beyond what time.Time round-trips through pax
			return
		}
		data := make([]byte, size)
		dataOff &^= blockSize - 1
		if int(dataOff)+int(dataLen) >= int(size) {
			dataLen = size - min(dataOff, size)
		} else {
			dataLen &^= blockSize - 1
		}
		if dataLen > 0 {
			h.Sparse = []Extent{{int64(dataOff), int64(dataLen)}}
			for i := range dataLen {
				data[int(dataOff)+int(i)] = byte(i) | 1
			}
		} else {
			for i := range data {
				data[i] = byte(i)
			}
		}
		var buf bytes.Buffer
		tw := NewWriterSize(&buf, 2048)
		if err := tw.WriteHeader(&h); err != nil {
			return // refused: fine, as long as it does not write a broken entry
		}
		if h.Sparse != nil {
			tw.Write(data[dataOff : dataOff+dataLen])
		} else {
			tw.Write(data)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(&buf)
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		if hdr.Name != name || hdr.Linkname != link || hdr.Uid != int(uid) || hdr.Gid != int(gid) ||
			hdr.Mode != int64(mode&0o7777) || !hdr.ModTime.Equal(time.Unix(sec, nsec)) ||
			hdr.PAXRecords[paxXattrPrefix+xname] != string(xval) {
			t.Fatalf("wrote %+v, read %+v", h, hdr)
		}
		got, err := io.ReadAll(tr)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%+v: data %v (%d bytes, want %d)", h, err, len(got), len(data))
		}
	})
}
