package xfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Sendfile of files in every extent shape (many extents, a bmap btree,
// holes, unwritten extents, reflinked) to a host file must send the
// bytes the host's mount reads; holes and unwritten extents are left
// to read(2) (EOPNOTSUPP where nothing can be sent).
func TestSendfile(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	img := layoutImage(t, layouts[0])
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	files := []string{"xfs-shapes/fragmented", "xfs-shapes/sparse", "xfs-shapes/unwritten", "xfs-shapes/reflinked", "xfs-shapes/dir-40/entry-7-xxxxxxx"}
	// A read-only disk: a writable one's device never sends.
	kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "xfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		sent := int64(0)
		for _, name := range files {
			want, err := os.ReadFile(filepath.Join(mnt, name))
			if err != nil {
				t.Fatal(err)
			}
			fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_RDONLY, 0)
			must("open", err)
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := kerneltest.SendfileAll(k, fd, out)
			must("sendfile", err)
			sent += n
			k.Close(fd)
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: sent %d bytes differing from the host's %d", name, len(got), len(want))
			}
			out.Close()
		}
		if sent == 0 {
			t.Error("nothing sent")
		}
		t.Logf("%d files, %d bytes sent", len(files), sent)
	})
}
