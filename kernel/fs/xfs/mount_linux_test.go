package xfs_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// mountErr boots a kernel over img and returns what mounting it with
// the flags and options gives, and the kernel's log.
func mountErr(t *testing.T, img string, flags uint64, opts string) (error, string) {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, kernel.DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	err = k.Mount("/dev/vda", "/mnt", "xfs", flags, opts)
	if err == nil {
		if uerr := k.Umount("/mnt", 0); uerr != nil {
			t.Fatal(uerr)
		}
	}
	return err, k.Dmesg()
}

// dirtyImage makes a filesystem shut down with transactions in its log
// (xfs_io's shutdown, no log flush) after each ran on its mount.
func dirtyImage(t *testing.T, each ...func(mnt string)) string {
	t.Helper()
	testutil.Need(t, "xfs_io")
	img := mkfsXFS(t)
	testutil.FillLoop(t, img, func(mnt string) {
		for _, f := range each {
			f(mnt)
		}
		testutil.Run(t, "xfs_io", "-x", "-c", "shutdown", mnt)
	})
	return img
}

// TestDirtyLog: a filesystem whose log is dirty is recovered in memory
// as Linux's mount recovers it (the image untouched): what it shows
// must be what the host shows once its own mount has recovered a copy,
// statfs included. With norecovery it is served as it is on disk, as
// the host's norecovery mount shows it.
func TestDirtyLog(t *testing.T) {
	testutil.Need(t, "mkfs.xfs", "xfs_io")
	src := xfsTree(t)
	replayed := 0
	defer func() {
		if replayed == 0 && !t.Failed() {
			t.Error("no scenario left anything in the log to replay")
		}
	}()
	for _, c := range []struct {
		name string
		each []func(string)
	}{
		{"synced-then-mkdir", []func(string){func(mnt string) {
			for i := range 50 {
				if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("before-%d", i)), []byte("data"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			testutil.Run(t, "sync")
			if err := os.Mkdir(filepath.Join(mnt, "after-sync"), 0o755); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "xfs_io", "-c", "fsync", filepath.Join(mnt, "after-sync"))
		}}},
		{"tree-and-shapes", []func(string){testutil.CopyInto(t, src), shapes(t, true, 4), func(mnt string) {
			// Removals and renames, logged only.
			testutil.Run(t, "sync")
			for _, p := range []string{"xfs-shapes/dir-400", "xfs-shapes/thinned"} {
				if err := os.RemoveAll(filepath.Join(mnt, p)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(filepath.Join(mnt, "xfs-shapes/dir-40"), filepath.Join(mnt, "renamed")); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "xfs_io", "-c", "fsync", mnt)
		}}},
		{"xattrs-extents-links", []func(string){shapes(t, true, 4), func(mnt string) {
			// All logged after the sync: attribute forks growing
			// to a da btree and remote values, a bmap btree
			// growing (its root logged in the inode), symlinks,
			// removals.
			testutil.Run(t, "sync")
			x := filepath.Join(mnt, "xfs-shapes")
			for i := range 400 {
				if err := unix.Lsetxattr(filepath.Join(x, "attrs-few"), fmt.Sprintf("user.late-%d", i), make([]byte, 40+i%300), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := unix.Lsetxattr(filepath.Join(x, "attrs-leaf"), "user.remote", make([]byte, 9000), 0); err != nil {
				t.Fatal(err)
			}
			fr, err := os.OpenFile(filepath.Join(x, "fragmented"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 600 {
				if _, err := fr.WriteAt([]byte("more"), int64(4000+i)*8192); err != nil {
					t.Fatal(err)
				}
			}
			fr.Sync()
			fr.Close()
			for i := range 30 {
				if err := os.Symlink(strings.Repeat("t", 10+i*30), filepath.Join(x, fmt.Sprintf("late-link-%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.RemoveAll(filepath.Join(x, "collisions")); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "xfs_io", "-c", "fsync", mnt)
		}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := dirtyImage(t, c.each...)
			before := testutil.FileSum(t, img)
			// norecovery: the host's norecovery mount's view.
			mnt, umount := testutil.HostMount(t, img, "ro,norecovery")
			want := testutil.MustScanDir(t, mnt)
			var hf unix.Statfs_t
			if err := unix.Statfs(mnt, &hf); err != nil {
				t.Fatal(err)
			}
			umount()
			testutil.ExpectSame(t, "norecovery", want, kerneltest.ExportTree(t, img, "xfs", abi.MS_RDONLY, "norecovery"), compareOptions())
			checkStatfs(t, img, "norecovery", hf)
			// Recovery: the host's view of a copy its mount recovered.
			cp := filepath.Join(t.TempDir(), "copy.img")
			testutil.Run(t, "cp", "--sparse=always", img, cp)
			testutil.FillLoop(t, cp) // a read-write mount replays the log (a read-only one refuses to)
			mnt, umount = testutil.HostMount(t, cp, "ro")
			onDisk := want
			want = testutil.MustScanDir(t, mnt)
			if d := len(testutil.Compare(onDisk, want, compareOptions())); d > 0 {
				replayed++
				t.Logf("recovery changes %d entries", d)
			} else {
				// The host wrote the blocks back before the
				// shutdown: a valid recovery with nothing to show.
				t.Log("the recovered tree is the tree on disk")
			}
			if err := unix.Statfs(mnt, &hf); err != nil {
				t.Fatal(err)
			}
			umount()
			err, log := mountErr(t, img, abi.MS_RDONLY, "")
			if err != nil {
				t.Fatalf("mount of the dirty log: %v\n%s", err, log)
			}
			testutil.ExpectSame(t, "recovered", want, kerneltest.ExportTree(t, img, "xfs", abi.MS_RDONLY, ""), compareOptions())
			checkStatfs(t, img, "", hf)
			if testutil.FileSum(t, img) != before {
				t.Error("the image changed")
			}
			t.Logf("%d entries compared after recovery", len(want))
		})
	}
}

// checkStatfs compares statfs of img mounted with opts with the host's.
func checkStatfs(t *testing.T, img, opts string, hf unix.Statfs_t) {
	t.Helper()
	kerneltest.WithMount(t, img, "xfs", abi.MS_RDONLY, opts, func(k *kernel.Kernel, must func(string, error)) {
		var kf abi.Statfs
		must("statfs", k.Statfs("/mnt", &kf))
		if kf.Blocks != hf.Blocks || kf.Bfree != hf.Bfree || kf.Files != hf.Files || kf.Ffree != hf.Ffree {
			t.Errorf("%s: statfs %+v, host %+v", opts, kf, hf)
		}
	})
}

// TestMountRefusals: a read-write mount is served read-only (nothing
// is written: a create fails with EROFS); needsrepair, ASCII
// case-insensitive names, a realtime volume, an external log and
// unknown options are refused.
func TestMountRefusals(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	img := mkfsXFS(t)
	kerneltest.WithMount(t, img, "xfs", 0, "", func(k *kernel.Kernel, must func(string, error)) {
		if _, err := k.Openat(abi.AT_FDCWD, "/mnt/new", abi.O_CREAT|abi.O_WRONLY, 0o644); !errors.Is(err, abi.EROFS) {
			t.Errorf("create on a read-write mount: %v, want EROFS", err)
		}
	})
	if err, _ := mountErr(t, img, abi.MS_RDONLY, "nosuchoption"); !errors.Is(err, abi.EINVAL) {
		t.Errorf("unknown option: %v", err)
	}
	if err, _ := mountErr(t, img, abi.MS_RDONLY, "logbufs=8,inode64,norecovery"); err != nil {
		t.Errorf("Linux's options: %v", err)
	}
	// needsrepair (set by xfs_db, which keeps the checksum right):
	// EUCLEAN, as Linux refuses it ("Filesystem needs repair").
	if _, err := exec.LookPath("xfs_db"); err == nil {
		img := mkfsXFS(t)
		out := string(testutil.Run(t, "xfs_db", "-r", "-c", "sb 0", "-c", "p features_incompat", img))
		var v uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "features_incompat = 0x%x", &v); err != nil {
			t.Fatalf("xfs_db: %q: %v", out, err)
		}
		testutil.Run(t, "xfs_db", "-x", "-c", "sb 0", "-c", fmt.Sprintf("write -d features_incompat %d", v|xfs.FeatIncompatNeedsRepair), img)
		if err, log := mountErr(t, img, abi.MS_RDONLY, ""); !errors.Is(err, abi.EUCLEAN) || !strings.Contains(log, "needs repair") {
			t.Errorf("needsrepair: mount: %v\n%s", err, log)
		}
	}
	// ASCII case-insensitive names: refused, as this host's XFS does.
	if err, log := mountErr(t, mkfsXFS(t, "-n", "version=ci"), abi.MS_RDONLY, ""); !errors.Is(err, abi.EINVAL) || !strings.Contains(log, "ascii-ci") {
		t.Errorf("ascii-ci: mount: %v\n%s", err, log)
	}
	dir := t.TempDir()
	rt, logdev := filepath.Join(dir, "rt"), filepath.Join(dir, "log")
	for _, p := range []string{rt, logdev} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 100<<20); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "rtdev=" + rt}, "realtime"},
		{[]string{"-l", "logdev=" + logdev + ",size=64m"}, "external log"},
	} {
		img := mkfsXFS(t, c.args...)
		err, log := mountErr(t, img, abi.MS_RDONLY, "")
		if !errors.Is(err, abi.EOPNOTSUPP) || !strings.Contains(err.Error(), c.want) || !strings.Contains(log, c.want) {
			t.Errorf("mkfs.xfs %s: mount: %v, want EOPNOTSUPP (%s)\n%s", c.args, err, c.want, log)
		}
	}
}

// TestInsaneCounters: superblock counters out of range (more free
// blocks than blocks, more free inodes than inodes, set by xfs_db) are
// summed again from the groups' headers, as Linux's mount does: statfs
// agrees with the host's.
func TestInsaneCounters(t *testing.T) {
	testutil.Need(t, "mkfs.xfs", "xfs_db")
	img := mkfsXFS(t)
	testutil.FillLoop(t, img, func(mnt string) {
		for i := range 300 {
			if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("f%d", i)), make([]byte, 5000), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	testutil.Run(t, "xfs_db", "-x", "-c", "sb 0", "-c", "write -d fdblocks 99999999", "-c", "write -d ifree 5", "-c", "write -d icount 3", img)
	mnt, umount := testutil.HostMount(t, img, "ro")
	var hf unix.Statfs_t
	if err := unix.Statfs(mnt, &hf); err != nil {
		t.Fatal(err)
	}
	umount()
	kerneltest.WithMount(t, img, "xfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		var kf abi.Statfs
		must("statfs", k.Statfs("/mnt", &kf))
		if kf.Blocks != hf.Blocks || kf.Bfree != hf.Bfree || kf.Bavail != hf.Bavail || kf.Files != hf.Files || kf.Ffree != hf.Ffree {
			t.Errorf("statfs %+v, host %+v", kf, hf)
		}
	})
}

// TestUnfinishedIntents: a filesystem stopped while it freed removed
// files' extents, its log holding an extent-free intent without its done
// item (testdata/intents.sh made it; committed, as a shutdown catches one
// only about one try in three). Linux replays the log, then frees the
// intent's extents and the unlinked inodes; this driver replays it in
// memory and counts both free: the tree and statfs must be the host's
// once its own mount has recovered a copy.
func TestUnfinishedIntents(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	img := filepath.Join(t.TempDir(), "efi.img")
	if p := os.Getenv("LKLIMG_XFS_INTENTS_IMAGE"); p != "" {
		testutil.Run(t, "cp", "--sparse=always", p, img) // another catch, by hand
	} else {
		testutil.Unzstd(t, "testdata/efi-unfinished.img.zst", img)
	}
	before := testutil.FileSum(t, img)
	cp := filepath.Join(t.TempDir(), "copy.img")
	testutil.Run(t, "cp", "--sparse=always", img, cp)
	testutil.FillLoop(t, cp) // a read-write mount replays the log and finishes the intents
	mnt, umount := testutil.HostMount(t, cp, "ro")
	want := testutil.MustScanDir(t, mnt)
	var hf unix.Statfs_t
	if err := unix.Statfs(mnt, &hf); err != nil {
		t.Fatal(err)
	}
	umount()
	err, log := mountErr(t, img, abi.MS_RDONLY, "")
	if err != nil {
		t.Fatalf("mount: %v\n%s", err, log)
	}
	if !strings.Contains(log, "unfinished intents settled") {
		t.Errorf("the log held no unfinished intent to settle:\n%s", log)
	}
	testutil.ExpectSame(t, "recovered", want, kerneltest.ExportTree(t, img, "xfs", abi.MS_RDONLY, ""), compareOptions())
	checkStatfs(t, img, "", hf)
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}
