package btrfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Filesystems over several devices: images made by mkfs.btrfs over n
// files, filled through the host's mount of them all (the others named
// by device=, as no udev scans the loop devices here), and read by the
// library kernel with the files attached as vda, vdb, ...

// mkfsDevices makes a btrfs over n image files with mkfs.btrfs ARGS and
// returns their paths.
func mkfsDevices(t testing.TB, n int, args ...string) []string {
	t.Helper()
	testutil.Need(t, "mkfs.btrfs")
	dir := t.TempDir()
	var imgs []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("dev%d.img", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, imageSize); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, p)
	}
	testutil.Run(t, "mkfs.btrfs", append([]string{"-q", "-f"}, append(args, imgs...)...)...)
	return imgs
}

// hostMountDevices mounts the filesystem over imgs on the host with opts:
// each file on a loop device, the others named by device=. The returned
// function unmounts it and frees the loop devices.
func hostMountDevices(t testing.TB, imgs []string, opts string) (string, func()) {
	t.Helper()
	testutil.NeedLoop(t)
	var loops []string
	free := func() {
		for _, l := range loops {
			exec.Command("losetup", "-d", l).Run()
		}
		loops = nil
	}
	for _, img := range imgs {
		out, err := exec.Command("losetup", "-f", "--show", img).Output()
		if err != nil {
			free()
			t.Fatalf("losetup %s: %v", img, err)
		}
		loops = append(loops, strings.TrimSpace(string(out)))
	}
	o := opts
	for _, l := range loops[1:] {
		o += ",device=" + l
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", o, loops[0], mnt).CombinedOutput(); err != nil {
		free()
		t.Fatalf("mount -o %s %s: %v\n%s", o, loops[0], err, out)
	}
	mounted := true
	umount := func() {
		if mounted {
			mounted = false
			testutil.Run(t, "umount", mnt)
			free()
		}
	}
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
			free()
		}
	})
	return mnt, umount
}

// compareDevices checks the library kernel's view of the filesystem over
// imgs against the host's, and returns the entries compared.
func compareDevices(t *testing.T, what string, imgs []string, opts string) int {
	t.Helper()
	o := "ro"
	if opts != "" {
		o += "," + opts
	}
	mnt, umount := hostMountDevices(t, imgs, o)
	want, madeUp := hostScan(t, mnt)
	umount()
	return expectView(t, what, want, madeUp, kerneltest.ExportTreeDevices(t, imgs, "", abi.MS_RDONLY, opts))
}

func TestDevicesAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "fallocate")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	total := 0
	for _, c := range []struct {
		name string
		n    int
		mkfs []string
		opts string
	}{
		{"raid1", 2, []string{"-d", "raid1", "-m", "raid1"}, "compress=zstd"},
		{"raid0-dup", 2, []string{"-d", "raid0", "-m", "dup"}, ""},
		{"single-raid1", 3, []string{"-d", "single", "-m", "raid1"}, "compress=lzo"},
		{"raid10", 4, []string{"-d", "raid10", "-m", "raid10"}, ""},
		{"raid1c3", 3, []string{"-d", "raid1c3", "-m", "raid1c3"}, ""},
		{"raid1c4", 4, []string{"-d", "raid1c4", "-m", "raid1c4", "-n", "4096"}, ""},
		{"raid5", 3, []string{"-d", "raid5", "-m", "raid1"}, ""},
		{"raid6", 4, []string{"-d", "raid6", "-m", "raid6"}, "compress=zlib"},
		{"mixed-raid1", 2, []string{"-M", "-d", "raid1", "-m", "raid1"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			imgs := mkfsDevices(t, c.n, c.mkfs...)
			mnt, umount := hostMountDevices(t, imgs, "rw,"+c.opts)
			testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "tree"))
			fillData(t, mnt)
			fillSubvols(t, mnt)
			umount()
			total += compareDevices(t, c.name, imgs, "")
		})
	}
	t.Logf("%d entries compared in all", total)
}

// A device missing fails the mount with ENOENT, as the host's ("devid 2
// uuid ... is missing"); with -o degraded the copies on the devices there
// are read, as the host reads them, and what only the missing device held
// fails with EIO.
func TestDeviceMissing(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	imgs := mkfsDevices(t, 2, "-d", "raid1", "-m", "raid1")
	mnt, umount := hostMountDevices(t, imgs, "rw,compress=zstd")
	testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "tree"))
	umount()
	for _, img := range imgs {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop,ro", img, mnt).CombinedOutput(); err == nil {
			exec.Command("umount", mnt).Run()
			t.Errorf("the host mounts %s alone", img)
		} else {
			t.Logf("host: %s", strings.TrimSpace(string(out)))
		}
		if err := kerneltest.MountErr(t, img, "btrfs", abi.MS_RDONLY, ""); !errors.Is(err, abi.ENOENT) {
			t.Errorf("mount of one of two devices: %v, want ENOENT", err)
		}
		compare(t, "degraded "+filepath.Base(img), img, "degraded")
	}
	compareDevices(t, "both", imgs, "degraded")
}

// A RAID5 data sector damaged on its device is rebuilt from the rest of
// its row and the parity when its checksum fails, as the host rebuilds it
// (and the read succeeds); so is a device missing under -o degraded.
func TestRaid5Rebuild(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs")
	testutil.NeedLoop(t)
	imgs := mkfsDevices(t, 3, "-d", "raid5", "-m", "raid1")
	data := random(21, 1<<20)
	mnt, umount := hostMountDevices(t, imgs, "rw")
	writeFile(t, filepath.Join(mnt, "file"), data)
	writeFile(t, filepath.Join(mnt, "text"), text(300000))
	umount()
	// A sector of the first piece of the file the first device holds.
	raw, err := os.ReadFile(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; ; off += 64 << 10 {
		if off+4096 > len(data) {
			t.Fatal("no piece of the file on the first device")
		}
		if bytes.Contains(raw, data[off:off+4096]) {
			damageData(t, imgs[0], data[off:], 100)
			break
		}
	}
	// The host's view, read before: a read-write mount would write
	// the repaired sectors back.
	compareDevices(t, "damaged", imgs, "")
	mnt, umount = hostMountDevices(t, imgs[1:], "ro,degraded")
	want, madeUp := hostScan(t, mnt)
	umount()
	expectView(t, "degraded", want, madeUp, kerneltest.ExportTreeDevices(t, imgs[1:], "", abi.MS_RDONLY, "degraded"))
}

// A filesystem sprouted from a seed (btrfstune -S 1, then a device added
// to the seed's mount): its chunks lie on the seed's device too, named by
// the seed's fsid, and its trees hold the seed's blocks. Read with both
// devices as the host reads it; the seed alone is the seed's tree.
func TestSeedAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "btrfstune", "losetup")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	imgs := mkfsDevices(t, 2)
	seed, sprout := imgs[0], imgs[1]
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", seed)
	mnt, umount := testutil.HostMount(t, seed, "rw")
	testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "tree"))
	writeFile(t, filepath.Join(mnt, "gone"), text(5000))
	umount()
	testutil.Run(t, "btrfstune", "-S", "1", seed)
	out, err := exec.Command("losetup", "-f", "--show", sprout).Output()
	if err != nil {
		t.Fatal(err)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	mnt, umount = testutil.HostMount(t, seed, "ro")
	testutil.Run(t, "btrfs", "device", "add", "-f", loop, mnt)
	testutil.Run(t, "mount", "-o", "remount,rw", mnt)
	writeFile(t, filepath.Join(mnt, "new"), text(300000))
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	umount()
	exec.Command("losetup", "-d", loop).Run()
	compareDevices(t, "sprout", []string{sprout, seed}, "")
	compare(t, "seed", seed, "")
	if err := kerneltest.MountErr(t, sprout, "btrfs", abi.MS_RDONLY, ""); !errors.Is(err, abi.ENOENT) {
		t.Errorf("the sprout without its seed: %v, want ENOENT", err)
	}
}
