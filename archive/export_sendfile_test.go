//go:build linux

package archive

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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

// TestExportSendfile: the test tree (a multi-MiB file, sparse files) in
// an image made by mkfs.ext4 -d, exported to a buffer (data copied) and
// to a host file and a pipe (large data sent by Sendfile): the archives
// are the same bytes, and the sends carried the large file's data.
func TestExportSendfile(t *testing.T) {
	src, _ := testutil.NewTree(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "64M")
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	dev, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	root, err := k.MountDev(dev, "ext4", abi.MS_RDONLY, "")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := Export(k, root, &want, Options{}); err != nil {
		t.Fatal(err)
	}

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
