package ext4

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// treeDigest lists the tree under dir, one line per entry (path, type,
// mode, size, contents hash or link target), sorted.
func treeDigest(t *testing.T, dir vfs.Inode, path string, out *[]string) error {
	var names []string
	err := dir.(vfs.DirReader).ReadDir(0, func(e vfs.DirEntry) bool {
		if e.Name != "." && e.Name != ".." {
			names = append(names, e.Name)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		ip, err := dir.(vfs.Lookuper).Lookup(n)
		if err != nil {
			return err
		}
		a, err := ip.Getattr()
		if err != nil {
			return err
		}
		p := path + "/" + n
		line := fmt.Sprintf("%s %o %d", p, a.Mode, a.Size)
		switch a.Mode & abi.S_IFMT {
		case abi.S_IFREG:
			b := make([]byte, a.Size)
			if _, err := ip.(vfs.FileReader).ReadAt(b, 0); err != nil && err != io.EOF {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		case abi.S_IFLNK:
			s, err := ip.(vfs.Readlinker).Readlink()
			if err != nil {
				return err
			}
			line += " -> " + s
		case abi.S_IFDIR:
			if err := treeDigest(t, ip, p, out); err != nil {
				return err
			}
		}
		*out = append(*out, line)
	}
	return nil
}

// digestOf mounts img read-only and returns its tree digest.
func digestOf(t *testing.T, img string) string {
	t.Helper()
	sb, _ := mountImage(t, img)
	root, err := sb.Root()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := treeDigest(t, root, "", &lines); err != nil {
		t.Fatalf("%s: %v", img, err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// opsFiles is how many files opsWorkload creates in one directory: enough
// for two blocks of 1 KiB.
const opsFiles = 40

// opsWorkload makes a tree with the driver's own operations (mkdir,
// create, write, symlink, rename, unlink, a directory grown past one
// block), in three phases with a Sync after each, on a crashDev that keeps
// limit writes, then unmounts; synced (if not nil) runs after each Sync.
// It returns the writes made and whether the driver has these operations
// on this branch.
func opsWorkload(t *testing.T, img string, limit, mode int, synced func()) (int, bool) {
	t.Helper()
	dev, f, log := crashMount(t, img, limit)
	defer dev.crash(mode)
	if f == nil {
		return dev.st.writes, true
	}
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := root.(vfs.DirWriter); !ok {
		return 0, false
	}
	ctx := vfs.Ctx{Now: abi.Timespec{Sec: 1700000000}}
	check := func(err error) bool {
		if err != nil && limit == 0 {
			t.Fatalf("%v\nlog:\n%s", err, log)
		}
		return err == nil
	}
	phases := []func() error{
		func() error {
			d, err := root.(vfs.DirWriter).Mkdir(ctx, "d", abi.S_IFDIR|0o755)
			if err != nil {
				return err
			}
			fi, err := d.(vfs.DirWriter).Create(ctx, "f", abi.S_IFREG|0o644)
			if err != nil {
				return err
			}
			data := []byte(strings.Repeat("0123456789abcdef", 1000))
			if _, err := fi.(vfs.FileWriter).WriteAt(ctx, data, 0); err != nil {
				return err
			}
			_, err = root.(vfs.DirWriter).Symlink(ctx, "l", "d/f")
			return err
		},
		func() error {
			d, err := root.(vfs.Lookuper).Lookup("d")
			if err != nil {
				return err
			}
			if err := d.(vfs.DirWriter).Rename(ctx, "f", root, "g", 0); err != nil {
				return err
			}
			for i := range opsFiles {
				if _, err := d.(vfs.DirWriter).Create(ctx, fmt.Sprintf("name-%03d-with-a-longer-tail", i), abi.S_IFREG|0o600); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			d, err := root.(vfs.Lookuper).Lookup("d")
			if err != nil {
				return err
			}
			for i := 0; i < opsFiles; i += 2 {
				name := fmt.Sprintf("name-%03d-with-a-longer-tail", i)
				ip, err := d.(vfs.Lookuper).Lookup(name)
				if err != nil {
					return err
				}
				if err := d.(vfs.DirWriter).Unlink(ctx, name); err != nil {
					return err
				}
				if ev, ok := ip.(vfs.Evicter); ok {
					if err := ev.Evict(); err != nil {
						return err
					}
				}
			}
			g, err := root.(vfs.Lookuper).Lookup("g")
			if err != nil {
				return err
			}
			_, err = g.(vfs.FileWriter).WriteAt(ctx, []byte("appended"), 16000)
			return err
		},
	}
	for _, ph := range phases {
		if !check(ph()) || !check(f.Sync()) {
			return dev.st.writes, true
		}
		if synced != nil {
			synced()
		}
	}
	check(f.Unmount())
	return dev.st.writes, true
}

// TestCrashDuringOperations runs opsWorkload once whole, recording the
// tree after each phase's Sync, then crashes it after every other write
// (and, at every eighth, loses all but the last unflushed write): e2fsck
// -fy then -fn must find the image clean, with nothing to repair beyond
// the journal's replay, and the tree must be the one before the run or
// after one of the phases (each Sync's commit is whole or absent).
// LKLIMG_CRASH_FULL=1 crashes after every write in both modes, and adds
// a 1 KiB ext3 image, a bigalloc one and an inline_data one, whose
// directory d starts inline and becomes a block (some minutes).
func TestCrashDuringOperations(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	full := os.Getenv("LKLIMG_CRASH_FULL") != ""
	type variant struct {
		name string
		args []string
	}
	variants := []variant{{"ext4", nil}}
	if full {
		variants = append(variants,
			variant{"ext3-1k", []string{"-t", "ext3", "-b", "1024"}},
			variant{"bigalloc", []string{"-O", "bigalloc", "-C", "16384"}},
			variant{"inline_data", []string{"-O", "inline_data"}})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			pristine := filepath.Join(dir, "pristine.img")
			testutil.Run(t, tools[0], append(append([]string{"-q", "-F", "-E", "lazy_itable_init=0"}, v.args...), pristine, "8M")...)
			img := filepath.Join(dir, "crash.img")
			copyImage(t, pristine, img)
			states := map[string]int{digestOf(t, pristine): 0}
			total, ok := opsWorkload(t, img, 0, keepAll, func() { states[digestOf(t, img)] = len(states) })
			if !ok {
				t.Fatal("the driver has no directory operations")
			}
			e2fsckClean(t, img)
			if len(states) != 4 {
				t.Fatalf("%d different trees for the 4 states", len(states))
			}
			seen := map[int]int{}
			repaired, points := 0, 0
			for n := 1; n <= total; n++ {
				var modes []int
				if full || n%2 == 1 || n == total {
					modes = append(modes, keepAll)
				}
				if full || n%8 == 0 {
					modes = append(modes, keepLast)
				}
				for _, mode := range modes {
					points++
					copyImage(t, pristine, img)
					opsWorkload(t, img, n, mode, nil)
					if fsckAfterCrash(t, img, n, mode, true) {
						repaired++
					}
					st, ok := states[digestOf(t, img)]
					if !ok {
						t.Errorf("crash after write %d (mode %d): the tree is none of the synced ones", n, mode)
					}
					seen[st]++
				}
			}
			t.Logf("%d crash images (%d writes): trees by state %v; %d repaired beyond the journal", points, total, seen, repaired)
		})
	}
}

// TestReadersDuringOperations walks the tree from several goroutines while
// the driver's own operations change it and commit: with -race, the read
// lock keeps the walks off half-done handles; every walk must succeed,
// but for ENOENT from a name unlinked between ReadDir and Lookup.
func TestReadersDuringOperations(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := filepath.Join(t.TempDir(), "x.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", img, "8M")
	f, _ := mountImageRW(t, img)
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	dw, ok := root.(vfs.DirWriter)
	if !ok {
		umountRW(t, f)
		t.Fatal("the driver has no directory operations")
	}
	ctx := vfs.Ctx{Now: abi.Timespec{Sec: 1700000000}}
	stop := whileReading(3, func() error {
		var lines []string
		if err := treeDigest(t, root, "", &lines); err != nil && !errors.Is(err, abi.ENOENT) {
			return err
		}
		return nil
	})
	for i := range 200 {
		name := fmt.Sprint("f", i)
		ip, err := dw.Create(ctx, name, abi.S_IFREG|0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ip.(vfs.FileWriter).WriteAt(ctx, []byte(name), 0); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := dw.Unlink(ctx, name); err != nil {
				t.Fatal(err)
			}
			if ev, ok := ip.(vfs.Evicter); ok {
				if err := ev.Evict(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i%50 == 0 {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
}
