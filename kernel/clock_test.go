package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestFixedClockReproducible: with a fixed Config.Now, the same changes to
// copies of one image give identical bytes (no host time in inodes, the
// superblock or the journal's commit blocks), and the superblock's write
// time is the clock's. The second run attaches the disk with CacheUnsafe
// and mounts with nobarrier, which must change when the bytes reach the
// file's disk, never which bytes the file holds after Halt.
func TestFixedClockReproducible(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "dumpe2fs")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.img")
	testutil.Run(t, tools[0], "-q", "-F", "-U", "clear", "-E", "hash_seed=00000000-0000-0000-0000-000000000001", base, "16M")
	const epoch = 1700000000
	clock := func() abi.Timespec { return abi.Timespec{Sec: epoch, Nsec: 5} }
	var images [2][]byte
	runs := [2]struct {
		disk DiskOptions
		data string
	}{{DiskOptions{}, ""}, {DiskOptions{CacheUnsafe: true}, "nobarrier"}}
	for i := range images {
		img := filepath.Join(dir, "run.img")
		testutil.Run(t, "cp", base, img)
		k, err := Boot(Config{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.AddDisk(img, runs[i].disk); err != nil {
			t.Fatal(err)
		}
		mnt, err := k.MountDev("vda", "ext4", 0, runs[i].data)
		if err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(k.Mkdirat(abi.AT_FDCWD, mnt+"/d", 0o755))
		fd, err := k.Openat(abi.AT_FDCWD, mnt+"/d/f", abi.O_WRONLY|abi.O_CREAT, 0o644)
		must(err)
		_, err = k.Write(fd, bytes.Repeat([]byte("data "), 3000))
		must(err)
		must(k.Close(fd))
		must(k.Symlinkat("f", abi.AT_FDCWD, mnt+"/d/l"))
		must(k.Sync())
		must(k.Halt())
		images[i], err = os.ReadFile(img)
		must(err)
		if i == 0 {
			cmd := exec.Command(tools[1], "-h", img)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, _ := cmd.CombinedOutput()
			if !bytes.Contains(out, []byte("Last write time:          Tue Nov 14 22:13:20 2023")) {
				t.Errorf("the superblock's write time is not the clock's:\n%s", out)
			}
		}
	}
	if !bytes.Equal(images[0], images[1]) {
		n := 0
		for i := range images[0] {
			if images[0][i] != images[1][i] {
				if n < 5 {
					t.Errorf("byte %d (block %d) differs", i, i/4096)
				}
				n++
			}
		}
		t.Errorf("two runs with a fixed clock differ in %d bytes", n)
	}
}
