package vfat_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The write side: a tree written through the library kernel onto images
// made by mkfs.fat must pass fsck.fat -n and read back through mtools as
// it was written; then renames, removals and truncations, checked the
// same way and against what the kernel itself shows after a remount.

// withFAT runs fn on a kernel with img mounted read-write on /mnt.
func withFAT(t *testing.T, img, opts string, fn func(k *kernel.Kernel)) {
	t.Helper()
	kerneltest.WithMount(t, img, "vfat", 0, opts, func(k *kernel.Kernel, _ func(string, error)) { fn(k) })
}

// copyIn copies the host tree src to dst in the kernel, file data in
// pieces of odd sizes, the modification times last.
func copyIn(t *testing.T, k *kernel.Kernel, src, dst string) {
	t.Helper()
	type dirTime struct {
		path string
		mt   time.Time
	}
	var dirs []dirTime
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		kp := filepath.Join(dst, rel)
		if fi.IsDir() {
			if rel != "." {
				if err := k.Mkdirat(abi.AT_FDCWD, kp, 0o755); err != nil {
					return err
				}
				dirs = append(dirs, dirTime{kp, fi.ModTime()})
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fd, err := k.Openat(abi.AT_FDCWD, kp, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); {
			n := min(len(data)-off, 7777+off%3000)
			if _, err := k.Pwrite(fd, data[off:off+n], int64(off)); err != nil {
				return err
			}
			off += n
		}
		if err := k.Close(fd); err != nil {
			return err
		}
		mt := abi.Timespec{Sec: fi.ModTime().Unix(), Nsec: int64(fi.ModTime().Nanosecond())}
		return k.Utimensat(abi.AT_FDCWD, kp, &[2]abi.Timespec{mt, mt}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		mt := abi.Timespec{Sec: dirs[i].mt.Unix()}
		if err := k.Utimensat(abi.AT_FDCWD, dirs[i].path, &[2]abi.Timespec{mt, mt}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// fsckClean runs fsck.fat -n and fails on anything it reports.
func fsckClean(t *testing.T, img string) {
	t.Helper()
	testutil.Need(t, "fsck.fat")
	out, err := exec.Command("fsck.fat", "-n", "-V", img).CombinedOutput()
	if err != nil || strings.Contains(string(out), "\n  ") || strings.Contains(string(out), "Dirty bit") {
		t.Fatalf("fsck.fat -n -V: %v\n%s", err, out)
	}
}

// mtoolsView extracts the image with mcopy and scans it.
func mtoolsView(t *testing.T, img string) testutil.Tree {
	t.Helper()
	tree, err := testutil.ScanDir(extractMtools(t, img))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func compareTrees(t *testing.T, want, got testutil.Tree) {
	t.Helper()
	for _, d := range testutil.Compare(want, got, testutil.CompareOptions{
		Ignore:    []string{"mode", "uid", "gid", "xattrs", "links"},
		SkipPaths: []string{"."},
		MtimeUnit: 2 * time.Second,
	}) {
		t.Error(d)
	}
}

func TestWriteTree(t *testing.T) {
	for _, c := range []struct {
		name, size string
		args       []string
		opts       string // of the first mount
	}{
		{"fat12", "16M", []string{"-F", "12", "-s", "16"}, ""},
		// nobarrier: the pages written back at unmount, unflushed.
		{"fat16", "64M", []string{"-F", "16", "-s", "2"}, "nobarrier"},
		{"fat32", "300M", []string{"-F", "32"}, ""},
		{"fat32-4k", "300M", []string{"-F", "32", "-S", "4096", "-s", "1"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.Need(t, "mkfs.fat", "mcopy")
			src := t.TempDir()
			makeTree(t, src, 7)
			img := mkfsFAT(t, c.size, c.args...)
			withFAT(t, img, c.opts, func(k *kernel.Kernel) { copyIn(t, k, src, "/mnt") })
			fsckClean(t, img)
			want, err := testutil.ScanDir(src)
			if err != nil {
				t.Fatal(err)
			}
			compareTrees(t, want, mtoolsView(t, img))
			compareTrees(t, want, kernelView(t, img, ""))

			// Change it: renames within and across directories, over
			// existing names, of directories; removals; truncations.
			withFAT(t, img, "", func(k *kernel.Kernel) {
				must := func(what string, err error) {
					t.Helper()
					if err != nil {
						t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
					}
				}
				must("rename", k.Renameat2(abi.AT_FDCWD, "/mnt/README.TXT", abi.AT_FDCWD, "/mnt/deep/Renamed Long Name.txt", 0))
				must("rename over", k.Renameat2(abi.AT_FDCWD, "/mnt/lower.TXT", abi.AT_FDCWD, "/mnt/UPPER.txt", 0))
				must("rename dir", k.Renameat2(abi.AT_FDCWD, "/mnt/deep/er", abi.AT_FDCWD, "/mnt/Many Entries/moved dir", 0))
				must("exchange", k.Renameat2(abi.AT_FDCWD, "/mnt/a.b", abi.AT_FDCWD, "/mnt/noext", abi.RENAME_EXCHANGE))
				must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/big.bin", 0))
				for i := 0; i < 300; i += 3 {
					must("unlink many", k.Unlinkat(abi.AT_FDCWD, "/mnt/Many Entries/entry number "+pad3(i)+" of many", 0))
				}
				must("truncate", k.Truncate("/mnt/many.dots.in.name", 50))
				must("extend", k.Truncate("/mnt/empty", 100000))
				must("mkdir", k.Mkdirat(abi.AT_FDCWD, "/mnt/newdir", 0o755))
				if err := k.Unlinkat(abi.AT_FDCWD, "/mnt/deep", abi.AT_REMOVEDIR); !errors.Is(err, abi.ENOTEMPTY) {
					t.Errorf("rmdir of a non-empty directory: %v", err)
				}
				must("rmdir", k.Unlinkat(abi.AT_FDCWD, "/mnt/newdir", abi.AT_REMOVEDIR))
			})
			// The same on the host tree.
			mv := func(a, b string) {
				if err := os.Rename(filepath.Join(src, a), filepath.Join(src, b)); err != nil {
					t.Fatal(err)
				}
			}
			mv("README.TXT", "deep/Renamed Long Name.txt")
			// Over an existing name the entry keeps the target's spelling.
			mv("lower.TXT", "UPPER.txt")
			mv("deep/er", "Many Entries/moved dir")
			mv("a.b", "swap")
			mv("noext", "a.b")
			mv("swap", "noext")
			os.Remove(filepath.Join(src, "big.bin"))
			for i := 0; i < 300; i += 3 {
				os.Remove(filepath.Join(src, "Many Entries", "entry number "+pad3(i)+" of many"))
			}
			os.Truncate(filepath.Join(src, "many.dots.in.name"), 50)
			os.Truncate(filepath.Join(src, "empty"), 100000)
			want, err = testutil.ScanDir(src)
			if err != nil {
				t.Fatal(err)
			}
			fsckClean(t, img)
			got := mtoolsView(t, img)
			// Times the kernel stamped (its clock) differ from the host's:
			// all else of these entries is compared.
			for _, p := range []string{"many.dots.in.name", "empty", "deep", "Many Entries", "Many Entries/moved dir"} {
				if e, ok := want[p]; ok && got[p] != nil {
					e.Mtime = got[p].Mtime
				}
			}
			compareTrees(t, want, got)
		})
	}
}

func pad3(i int) string { return fmt.Sprintf("%03d", i) }

// TestNames covers what names FAT takes and how they come back: 8.3
// aliases as Linux makes them (checked through mtools, which shows them),
// names beyond the BMP, the names FAT refuses, and lookups ignoring case.
func TestNames(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "mdir")
	img := mkfsFAT(t, "32M", "-F", "16")
	aliases := map[string]string{
		"README.TXT":       "README  TXT",
		"readme2.txt":      "README2 TXT",
		"longfilename.txt": "LONGFI~1TXT",
		"longfilename.doc": "LONGFI~1DOC",
		"longfilename.tx2": "LONGFI~1TX2",
		".bashrc":          "BASHRC~1   ",
		"a b.txt":          "AB~1    TXT",
		"x+y":              "X_Y~1      ",
		"123":              "123        ",
		"café.txt":         "CAF\x90    TXT",
	}
	withFAT(t, img, "", func(k *kernel.Kernel) {
		for name := range aliases {
			fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
			if err != nil {
				t.Fatalf("create %q: %v", name, err)
			}
			k.Close(fd)
		}
		// Eleven more of one alias: ~2 to ~9, then the hex form.
		for i := range 11 {
			name := "/mnt/longfilename.txt" + string(rune('a'+i))
			if fd, err := k.Openat(abi.AT_FDCWD, name, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644); err != nil {
				t.Fatal(err)
			} else {
				k.Close(fd)
			}
		}
		for _, bad := range []struct {
			name string
			err  abi.Errno
		}{{"a*b", abi.EINVAL}, {"q?", abi.EINVAL}, {"trailing ", abi.EINVAL}, {strings.Repeat("x", 256), abi.ENAMETOOLONG}} {
			_, err := k.Openat(abi.AT_FDCWD, "/mnt/"+bad.name, abi.O_WRONLY|abi.O_CREAT, 0o644)
			if !errors.Is(err, bad.err) {
				t.Errorf("create %q: %v, want %v", bad.name, err, bad.err)
			}
		}
		// Case and trailing dots do not matter to lookups; an 8.3
		// alias finds its file.
		if fd, err := k.Openat(abi.AT_FDCWD, "/mnt/élan vital.txt", abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644); err != nil {
			t.Fatal(err)
		} else {
			k.Close(fd)
		}
		for _, alias := range []string{"/mnt/readme.txt", "/mnt/ReadMe.TXT.", "/mnt/LONGFI~1.TXT", "/mnt/CAFÉ.TXT", "/mnt/ÉLAN VITAL.TXT"} {
			var st abi.Stat
			err := k.Fstatat(abi.AT_FDCWD, alias, &st, 0)
			if alias == "/mnt/ÉLAN VITAL.TXT" {
				// Only ASCII folds (iocharset=ascii).
				if !errors.Is(err, abi.ENOENT) {
					t.Errorf("%s: %v, want ENOENT", alias, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", alias, err)
			}
		}
		// A name beyond the BMP is two units (a surrogate pair).
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/party 🎉.txt", abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		k.Close(fd)
	})
	fsckClean(t, img)
	out, err := exec.Command("mdir", "-a", "-i", img, "::").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	listing := string(out)
	for name, alias := range aliases {
		// mdir shows the alias as base, spaces, extension.
		cp437 := strings.NewReplacer("\x90", "É").Replace(alias)
		if !strings.Contains(listing, cp437[:8]+" "+cp437[8:]) {
			t.Errorf("%q: alias %q not in\n%s", name, alias, listing)
		}
	}
	hex := 0
	for _, l := range strings.Split(listing, "\n") {
		if len(l) > 8 && strings.HasPrefix(l, "LO") && l[6] == '~' && l[2:6] != "NGFI" {
			hex++
		}
	}
	if hex != 3 {
		t.Errorf("want 3 hex-form aliases (LOxxxx~N) after ~1..~9, got %d\n%s", hex, listing)
	}
	tree := kernelView(t, img, "")
	if _, ok := tree["party 🎉.txt"]; !ok {
		t.Errorf("surrogate pair name not read back: %v", tree)
	}
}
