package ext4

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fileDev is a vfs.BlockDevice over an image file.
type fileDev struct {
	f    *os.File
	size int64

	mu sync.Mutex
	ra int // readahead calls seen
}

func openDev(t testing.TB, path string) *fileDev {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return &fileDev{f: f, size: st.Size()}
}

func (d *fileDev) Name() string   { return "vda" }
func (d *fileDev) Size() int64    { return d.size }
func (d *fileDev) ReadOnly() bool { return true }
func (d *fileDev) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}
func (d *fileDev) Readahead(off, n int64) {
	d.mu.Lock()
	d.ra++
	d.mu.Unlock()
}

// memDev is a vfs.BlockDevice over a byte slice.
type memDev []byte

func (d memDev) Name() string   { return "mem" }
func (d memDev) Size() int64    { return int64(len(d)) }
func (d memDev) ReadOnly() bool { return true }
func (d memDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// testLog collects the kernel log.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Printf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// mountImage mounts an image file read-only.
func mountImage(t testing.TB, path string) (vfs.Superblock, *testLog) {
	t.Helper()
	log := &testLog{}
	sb, err := NewType().Mount(openDev(t, path), abi.MS_RDONLY, "", log)
	if err != nil {
		t.Fatalf("mount %s: %v\nlog:\n%s", path, err, log)
	}
	t.Cleanup(func() { sb.Unmount() })
	return sb, log
}

// lookupPath walks a slash-separated path from the root.
func lookupPath(sb vfs.Superblock, path string) (vfs.Inode, error) {
	ip, err := sb.Root()
	if err != nil {
		return nil, err
	}
	for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
		if c == "" {
			continue
		}
		d, ok := ip.(vfs.Lookuper)
		if !ok {
			return nil, abi.ENOTDIR
		}
		if ip, err = d.Lookup(c); err != nil {
			return nil, err
		}
	}
	return ip, nil
}

// readDirAll collects a directory's entries.
func readDirAll(ip vfs.Inode) ([]vfs.DirEntry, error) {
	d, ok := ip.(vfs.DirReader)
	if !ok {
		return nil, abi.ENOTDIR
	}
	var ents []vfs.DirEntry
	err := d.ReadDir(0, func(e vfs.DirEntry) bool {
		ents = append(ents, e)
		return true
	})
	return ents, err
}

// readAll reads a file with ReadAt in chunks of an odd size.
func readAll(ip vfs.Inode, chunk int) ([]byte, error) {
	r, ok := ip.(vfs.FileReader)
	if !ok {
		return nil, abi.EISDIR
	}
	var out []byte
	buf := make([]byte, chunk)
	var off int64
	for {
		n, err := r.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, fmt.Errorf("ReadAt returned 0 bytes without EOF at %d", off)
		}
	}
}
