package vfat_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestAllocAcrossFATWindow: a chain followed, and an allocation scanning,
// from a low cluster across the first 16 KiB of the FAT, where cluster
// 4096's entry is on FAT32 and cluster 8192's on FAT16, must read that
// cluster's entry. The
// FAT window once read the bytes past its end from its zeroed slack: a
// file crossing that cluster could not be read (EIO), and the scan took
// the cluster, another file's, as free: two chains cross-linked (found by
// fsx: ftruncate failed with EIO, "deleting FAT entry beyond EOF").
func TestAllocAcrossFATWindow(t *testing.T) {
	for _, c := range []struct {
		bits, size string
		clusters   int // big's, past the window's end
	}{{"32", "40M", 6000}, {"16", "30M", 10000}} {
		t.Run("fat"+c.bits, func(t *testing.T) {
			img := mkfsFAT(t, c.size, "-F", c.bits, "-s", "1")
			dir := t.TempDir()
			big := bytes.Repeat([]byte("0123456789abcdef"), c.clusters*512/16)
			if err := os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
				t.Fatal(err)
			}
			// a takes the first free cluster, big the ones after it; a's
			// is freed and the allocator starts from the volume's start
			// (FAT32: FSInfo's next-free hint set to it).
			mtools(t, "mcopy", "-i", img, filepath.Join(dir, "a"), filepath.Join(dir, "big"), "::/")
			mtools(t, "mdel", "-i", img, "::/a")
			if c.bits == "32" {
				setNextFree(t, img, 2)
			}
			withFAT(t, img, "", func(k *kernel.Kernel) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/new", abi.O_WRONLY|abi.O_CREAT, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := k.Pwrite(fd, bytes.Repeat([]byte{'n'}, 1024), 0); err != nil {
					t.Fatal(err)
				}
				if err := k.Close(fd); err != nil {
					t.Fatal(err)
				}
			})
			fsckClean(t, img)
			got, err := os.ReadFile(filepath.Join(extractMtools(t, img), "big"))
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("big read back by mtools differs (%v)", err)
			}
			// Read by the kernel: following big's chain read the entry
			// past the window's end from the slack too, so the read
			// failed with EIO ("cluster 0x1000 is free").
			compareTrees(t, mtoolsView(t, img), kernelView(t, img, ""))
		})
	}
}

// setNextFree sets FSInfo's next-free hint (FSI_Nxt_Free, at byte 492 of
// the FSInfo sector, sector 1 as mkfs.fat makes it).
func setNextFree(t *testing.T, img string, c uint32) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], c)
	if _, err := f.WriteAt(b[:], 512+492); err != nil {
		t.Fatal(err)
	}
}

// extractMtools copies the image's files out with mcopy.
func extractMtools(t *testing.T, img string) string {
	t.Helper()
	out := t.TempDir()
	mtools(t, "mcopy", "-s", "-m", "-n", "-i", img, "::/*", out)
	return out
}
