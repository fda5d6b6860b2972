package vfat_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The DOS attributes, both ways against mattrib: what mtools set reads
// back through FAT_IOCTL_GET_ATTRIBUTES and the mode; what the kernel sets
// through FAT_IOCTL_SET_ATTRIBUTES and chmod, mattrib lists.
func TestDOSAttributes(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "mcopy", "mattrib")
	dir := t.TempDir()
	img := mkfsFAT(t, "8M", "-i", "1234abcd")
	for _, n := range []string{"hs", "ro", "plain"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
		mtools(t, "mcopy", "-i", img, filepath.Join(dir, n), "::/"+n)
	}
	mtools(t, "mattrib", "-i", img, "+h", "+s", "::/hs")
	mtools(t, "mattrib", "-i", img, "+r", "-a", "::/ro")
	withFAT(t, img, "", func(k *kernel.Kernel) {
		attrs := func(p string) uint32 {
			fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close(fd)
			a, err := k.FatGetAttributes(fd)
			if err != nil {
				t.Fatal(err)
			}
			if p == "/mnt" {
				if id, err := k.FatGetVolumeID(fd); err != nil || id != 0x1234abcd {
					t.Errorf("volume id %#x, %v", id, err)
				}
			}
			return a
		}
		for p, want := range map[string]uint32{
			"/mnt/hs": fat.AttrHidden | fat.AttrSystem | fat.AttrArchive, "/mnt/ro": fat.AttrReadOnly,
			"/mnt/plain": fat.AttrArchive, "/mnt": fat.AttrDirectory,
		} {
			if got := attrs(p); got != want {
				t.Errorf("%s: attributes %#x, want %#x", p, got, want)
			}
		}
		var st abi.Stat
		if err := k.Fstatat(abi.AT_FDCWD, "/mnt/ro", &st, 0); err != nil || st.Mode&0o777 != 0o555 {
			t.Errorf("read-only file: mode %o, %v", st.Mode, err)
		}
		// Set: hidden on plain, archive off; read-only off by chmod.
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/plain", abi.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.FatSetAttributes(fd, fat.AttrHidden); err != nil {
			t.Fatal(err)
		}
		k.Close(fd)
		if err := k.Fchmodat(abi.AT_FDCWD, "/mnt/ro", 0o755, 0); err != nil {
			t.Fatal(err)
		}
		// A mode FAT cannot hold changes nothing, silently.
		if err := k.Fchmodat(abi.AT_FDCWD, "/mnt/hs", 0o600, 0); err != nil {
			t.Fatal(err)
		}
		if err := k.Fstatat(abi.AT_FDCWD, "/mnt/hs", &st, 0); err != nil || st.Mode&0o777 != 0o755 {
			t.Errorf("chmod 600: mode %o, %v", st.Mode, err)
		}
		if err := k.Fchownat(abi.AT_FDCWD, "/mnt/hs", 1000, 1000, 0); err == nil {
			t.Error("chown to another owner accepted")
		}
		rootFd, _ := k.Openat(abi.AT_FDCWD, "/mnt", abi.O_RDONLY, 0)
		if err := k.FatSetAttributes(rootFd, fat.AttrHidden); err == nil {
			t.Error("root attributes changed")
		}
		k.Close(rootFd)
	})
	fsckClean(t, img)
	cmd := exec.Command("mattrib", "-i", img, "::/hs", "::/ro", "::/plain")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	want := "  A  SH      ::/hs\n             ::/ro\n      H      ::/plain\n"
	if string(out) != want {
		t.Errorf("mattrib:\n%s\nwant\n%s", out, want)
	}
}
