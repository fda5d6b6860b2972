package vfat_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/kernel"
)

// TestDirtyBitOnDisk: a read-write mount has the dirty bit on the disk
// before it returns, as fat_set_state writes it with sync_dirty_buffer,
// so that a server killed at any point after leaves a volume fsck.fat
// knows was in use, whatever of the cache was written back. Clean
// again after the unmount.
func TestDirtyBitOnDisk(t *testing.T) {
	for _, c := range []struct {
		bits  string
		state int64 // BS_Reserved1's offset: FAT32's or FAT12/16's
	}{{"32", 65}, {"16", 37}, {"12", 37}} {
		t.Run("fat"+c.bits, func(t *testing.T) {
			img := mkfsFAT(t, "40M", "-F", c.bits)
			if c.bits == "12" {
				img = mkfsFAT(t, "4M", "-F", c.bits)
			}
			state := func() byte {
				t.Helper()
				f, err := os.Open(img)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var b [1]byte
				if _, err := f.ReadAt(b[:], c.state); err != nil {
					t.Fatal(err)
				}
				return b[0]
			}
			withFAT(t, img, "", func(k *kernel.Kernel) {
				if s := state(); s&1 == 0 {
					t.Errorf("state byte %#x on the disk while mounted: no dirty bit", s)
				}
			})
			if s := state(); s&1 != 0 {
				t.Errorf("state byte %#x on the disk after the unmount: dirty", s)
			}
		})
	}
}
