package squashfstools_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/tools/squashfstools"
)

// memDev is a device in memory.
type memDev struct{ b []byte }

func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// seedTar is a small stream of every kind of entry: files of several
// blocks, a tail, a duplicate, a sparse file, a hard link, a symlink,
// devices, a FIFO, xattrs short, long and shared, a name given twice.
func seedTar(t testing.TB) []byte {
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	long := bytes.Repeat([]byte("xattr value "), 20)
	add := func(h archive.Header, data []byte) {
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	big := bytes.Repeat([]byte("some data 0123456789"), 700)
	add(archive.Header{Name: "./", Typeflag: archive.TypeDir, Mode: 0o755, Mtime: archive.Time{Sec: 5}}, nil)
	add(archive.Header{Name: "d/big", Typeflag: archive.TypeReg, Mode: 0o644, Size: int64(len(big)),
		Xattrs: []archive.Xattr{{Name: "user.a", Value: long}, {Name: "user.b", Value: []byte("twelve bytes")}}}, big)
	add(archive.Header{Name: "d/dup", Typeflag: archive.TypeReg, Mode: 0o644, Size: int64(len(big)),
		Xattrs: []archive.Xattr{{Name: "user.c", Value: long}}}, big)
	add(archive.Header{Name: "small", Typeflag: archive.TypeReg, Mode: 0o600, Size: 5, Uid: 1000}, []byte("small"))
	add(archive.Header{Name: "sparse", Typeflag: archive.TypeReg, Mode: 0o644, Size: 50000,
		Sparse: []archive.Extent{{Offset: 20480, Length: 512}, {Offset: 49664, Length: 336}}}, bytes.Repeat([]byte("s"), 848))
	add(archive.Header{Name: "hard", Typeflag: archive.TypeLink, Linkname: "small"}, nil)
	add(archive.Header{Name: "sym", Typeflag: archive.TypeSymlink, Linkname: "d/big", Mode: 0o777}, nil)
	add(archive.Header{Name: "dev/null", Typeflag: archive.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, nil)
	add(archive.Header{Name: "dev/sda", Typeflag: archive.TypeBlock, Mode: 0o660, Devmajor: 8, Devminor: 300}, nil)
	add(archive.Header{Name: "fifo", Typeflag: archive.TypeFifo, Mode: 0o644}, nil)
	add(archive.Header{Name: "small", Typeflag: archive.TypeReg, Mode: 0o644, Size: 3}, []byte("new"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzMkfs writes an image of any tar stream and reads back all of its
// metadata with format/squashfs's decoders: a stream Mkfs takes must
// make an image that decodes; none may make it panic or hang.
func FuzzMkfs(f *testing.F) {
	f.Add(seedTar(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Streams of more than 1 MiB of files (sparse ones' holes
		// count) are left out: a hole of a TiB is valid, and long to
		// write, and the fuzzer makes such sizes often.
		r := archive.NewReader(bytes.NewReader(data))
		total := int64(0)
		for {
			h, err := r.Next()
			if err != nil {
				break
			}
			if total += max(h.Size, 0); total > 1<<20 {
				return
			}
		}
		dev := &memDev{}
		epoch := int64(1)
		size, err := squashfstools.Mkfs(dev, archive.NewReader(bytes.NewReader(data)),
			squashfstools.Params{BlockSize: 4096, Workers: 2, Time: &epoch, Compressor: squashfs.CompLz4})
		if err != nil {
			return
		}
		img := filepath.Join(t.TempDir(), "img")
		if err := os.WriteFile(img, dev.b[:size], 0o644); err != nil {
			t.Fatal(err)
		}
		openImage(t, img).layout()
	})
}
