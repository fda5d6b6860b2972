package kernel

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/fdisk"
)

// TestBlkRrpart: a new table written through /dev/vda is taken by
// BLKRRPART: EBUSY while a partition is mounted or open, then the old partitions and
// their nodes go and the new ones come, with the new table's places.
func TestBlkRrpart(t *testing.T) {
	img := gptDisk(t)
	// An ext4 on vda2 (8 MiB at sector 8192), to mount.
	testutil.Run(t, testutil.Need(t, "mke2fs")[0], "-q", "-F", "-t", "ext4", "-E", "offset=4194304", img, "8M")
	k := bootDisk(t, img, DiskOptions{})
	before, _ := k.Partitions("vda")
	mnt, err := k.MountDev("vda2", "ext4", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	// Opened without O_EXCL, which a mounted partition refuses.
	f, err := devfile.Open(k, "vda", abi.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := k.BlkRrpart(f.Fd()); !errors.Is(err, abi.EBUSY) {
		t.Fatalf("BLKRRPART with vda2 mounted: %v, want EBUSY", err)
	}
	if err := k.Umount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	p1 := openDev(t, k, "/dev/vda1", abi.O_RDONLY)
	s, err := fdisk.Parse(strings.NewReader("label: dos\n,1M\n,2M\n,,E\n,1M\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := fdisk.Plan(s, uint64(f.Size())/512, fdisk.SeededIDs([]byte("t")))
	if err != nil {
		t.Fatal(err)
	}
	if err := fdisk.Write(f, tab); err != nil {
		t.Fatal(err)
	}
	if err := k.BlkRrpart(f.Fd()); !errors.Is(err, abi.EBUSY) {
		t.Fatalf("BLKRRPART with vda1 open: %v, want EBUSY", err)
	}
	if err := k.BlkRrpart(p1); !errors.Is(err, abi.EINVAL) {
		t.Errorf("BLKRRPART on a partition: %v, want EINVAL", err)
	}
	if err := k.Close(p1); err != nil {
		t.Fatal(err)
	}
	if err := k.BlkRrpart(f.Fd()); err != nil {
		t.Fatalf("BLKRRPART: %v", err)
	}
	after, _ := k.Partitions("vda")
	if want := []string{"vda1", "vda2", "vda3", "vda5"}; !slices.Equal(after, want) {
		t.Fatalf("partitions %v (before %v), want %v", after, before, want)
	}
	info, err := k.PartitionInfo("vda")
	if err != nil || info.Label != "dos" {
		t.Fatalf("table %+v, %v", info, err)
	}
	for i, p := range tab.Partitions {
		if q := info.Partitions[i]; q.Number != p.Number || q.Start != p.Start || q.Sectors != p.Sectors {
			t.Errorf("partition %d: %d+%d, planned %d+%d", q.Number, q.Start, q.Sectors, p.Start, p.Sectors)
		}
	}
	// The nodes follow: vda5 opens, a node of the old table's that the
	// new one lacks does not.
	fd := openDev(t, k, "/dev/vda5", abi.O_RDONLY)
	if n, err := k.BlkGetSize64(fd); err != nil || n != 1<<20 {
		t.Errorf("vda5: %d bytes, %v", n, err)
	}
	k.Close(fd)
	for _, old := range before {
		if !slices.Contains(after, old) {
			if _, err := k.Openat(abi.AT_FDCWD, "/dev/"+old, abi.O_RDONLY, 0); !errors.Is(err, abi.ENOENT) {
				t.Errorf("/dev/%s after the re-read: %v", old, err)
			}
		}
	}
}
