package vfat_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestWriteFillsVolume: a write larger than the free space writes the
// pages whose clusters fit and returns their count, as Linux's
// generic_perform_write does; the next write is ENOSPC. It once failed
// whole, leaving up to the write's size of the volume unused (a 128 KiB
// FUSE write into the last 15 KiB of a floppy wrote nothing).
func TestWriteFillsVolume(t *testing.T) {
	img := mkfsFAT(t, "1440K", "-F", "12")
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	var written int
	withFAT(t, img, "", func(k *kernel.Kernel) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/big", abi.O_WRONLY|abi.O_CREAT, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for written < len(data) {
			n, err := k.Pwrite(fd, data[written:min(written+128<<10, len(data))], int64(written))
			if err != nil {
				if abi.ErrnoOf(err) != abi.ENOSPC {
					t.Fatal(err)
				}
				break
			}
			written += n
		}
		var st abi.Statfs
		if err := k.Statfs("/mnt", &st); err != nil {
			t.Fatal(err)
		}
		// A floppy's clusters are 512 bytes: less than a page is left.
		if left := int64(st.Bfree) * st.Bsize; left >= 4096 {
			t.Errorf("ENOSPC after %d bytes with %d bytes free", written, left)
		}
		if err := k.Close(fd); err != nil {
			t.Fatal(err)
		}
	})
	fsckClean(t, img)
	got, err := os.ReadFile(filepath.Join(extractMtools(t, img), "big"))
	if err != nil || !bytes.Equal(got, data[:written]) {
		t.Fatalf("mtools reads %d bytes (%v), %d written", len(got), err, written)
	}
}
