//go:build linux

package archive

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

var _ Sendfiler = (*kernel.Kernel)(nil)

// countingSendfiler counts the bytes the kernel sent.
type countingSendfiler struct {
	*kernel.Kernel
	sent int64
}

func (c *countingSendfiler) Sendfile(out abi.HostFile, in int, n int64) (int64, error) {
	k, err := c.Kernel.Sendfile(out, in, n)
	c.sent += k
	return k, err
}

// sendfileImage puts the test tree (src) into an image made by mkfs.ext4
// -d, mounts it read-only in a new kernel and exports it to a buffer,
// the data copied: want is the archive the sends must make.
func sendfileImage(t *testing.T) (k *kernel.Kernel, root, src string, want *bytes.Buffer) {
	t.Helper()
	src, _ = testutil.NewTree(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "64M")
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	dev, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if root, err = k.MountDev(dev, "ext4", abi.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	want = new(bytes.Buffer)
	if err := Export(k, root, want, Options{}); err != nil {
		t.Fatal(err)
	}
	return k, root, src, want
}

// TestExportSendfile: the test tree (a multi-MiB file, sparse files) in
// an image made by mkfs.ext4 -d, exported to a buffer (data copied) and
// to a host file and a pipe (large data sent by Sendfile): the archives
// are the same bytes, and the sends carried the large file's data.
func TestExportSendfile(t *testing.T) {
	k, root, _, want := sendfileImage(t)

	sys := &countingSendfiler{Kernel: k}
	f, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Export(sys, root, f, Options{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("export to a file: %d bytes, differ from the buffer's %d", len(got), want.Len())
	}
	if sys.sent < 3<<20 {
		t.Errorf("export to a file sent %d bytes by Sendfile, want the big file's 3 MiB at least", sys.sent)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	err = Export(sys, root, w, Options{})
	w.Close()
	if b := <-got; err != nil || !bytes.Equal(b, want.Bytes()) {
		t.Errorf("export to a pipe: %v; %d bytes, want the buffer's %d", err, len(b), want.Len())
	}
	r.Close()
}

// failingSendfiler sends the first 100,000 bytes of the file called
// big.bin and then fails, as its reads do: the image failing under the
// output goroutine.
type failingSendfiler struct {
	*kernel.Kernel
	mu  sync.Mutex   // Export calls from its output goroutine too
	fds map[int]bool // descriptors of big.bin
}

func (f *failingSendfiler) failing(fd int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fds[fd]
}

func (f *failingSendfiler) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	fd, err := f.Kernel.Openat(dirfd, path, flags, mode)
	if err == nil {
		f.mu.Lock()
		f.fds[fd] = strings.HasSuffix(path, "big.bin")
		f.mu.Unlock()
	}
	return fd, err
}

func (f *failingSendfiler) Sendfile(out abi.HostFile, in int, n int64) (int64, error) {
	if !f.failing(in) {
		return f.Kernel.Sendfile(out, in, n)
	}
	pos, err := f.Kernel.Lseek(in, 0, abi.SEEK_CUR)
	if err != nil || pos >= 100000 {
		return 0, abi.EIO
	}
	return f.Kernel.Sendfile(out, in, min(n, 100000-pos))
}

func (f *failingSendfiler) Read(fd int, p []byte) (int, error) {
	if f.failing(fd) {
		return 0, abi.EIO
	}
	return f.Kernel.Read(fd, p)
}

// TestExportSendfileFails: a file whose data fails under the output
// goroutine keeps its place, zero-filled from the failure on; the failure
// is reported as the walk reports its own, and the export is incomplete.
func TestExportSendfileFails(t *testing.T) {
	k, root, src, want := sendfileImage(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reports []error
	sys := &failingSendfiler{Kernel: k, fds: map[int]bool{}}
	err = Export(sys, root, f, Options{Report: func(err error) {
		if !errors.Is(err, ErrSocket) { // mkfs.ext4 -d copies sockets
			reports = append(reports, err)
		}
	}})
	if !errors.Is(err, ErrIncomplete) {
		t.Errorf("Export: %v; want ErrIncomplete", err)
	}
	var pe *PathError
	if len(reports) != 1 || !errors.As(reports[0], &pe) || pe.Path != "/big.bin" || pe.Op != "read" || !errors.Is(pe, abi.EIO) {
		t.Errorf("reports %v; want one EIO reading /big.bin", reports)
	}
	got, _ := os.ReadFile(f.Name())
	if len(got) != want.Len() {
		t.Fatalf("archive of %d bytes, want %d", len(got), want.Len())
	}
	// The archives differ only in big.bin's data from byte 100,000 on,
	// zeros in got.
	tr := NewReader(bytes.NewReader(got))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no ./big.bin in the archive: %v", err)
		}
		if h.Name != "./big.bin" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := os.ReadFile(filepath.Join(src, "big.bin"))
		if len(data) != len(orig) || !bytes.Equal(data[:100000], orig[:100000]) || strings.Trim(string(data[100000:]), "\x00") != "" {
			t.Errorf("big.bin: %d bytes; want the first 100,000 of the file's %d and zeros", len(data), len(orig))
		}
		break
	}
}
