package ext4

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// dxLevels returns the indirect_levels of an indexed directory's root, or
// -1 when it is not indexed.
func dxLevels(t *testing.T, f *fsys, path string) int {
	t.Helper()
	d := rwDir(t, f, path)
	if !d.isIndexed() {
		return -1
	}
	runs, err := d.blockRuns()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, f.BlockSize)
	if _, err := d.dirBlock(runs, 0, buf); err != nil {
		t.Fatal(err)
	}
	return int(buf[disk.DxRootInfoOffset+6])
}

// checkHostNames compares the names in a directory of the loop-mounted
// image with want.
func checkHostNames(t *testing.T, dir string, want map[string]bool) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range ents {
		if !want[e.Name()] {
			t.Errorf("host sees %q, not expected", e.Name())
			continue
		}
		got++
	}
	if got != len(want) {
		t.Errorf("host sees %d of the %d names", got, len(want))
	}
	// Looking names up goes through the index (a readdir does not).
	i := 0
	for name := range want {
		if i++; len(want) > 2000 && i%97 != 0 {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("host lookup: %v", err)
		}
	}
}

// TestHtreeGrow fills one directory with 100,000 new files, so that it is
// made indexed, its leaves split and its index grows a level, then
// removes every other one; each name is looked up through the index, and
// e2fsck and the host kernel check the result.
func TestHtreeGrow(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 20000
	}
	img := mkfsTree(t, "256M", []string{"-N", fmt.Sprint(n + 1000)}, func(src string) {
		os.Mkdir(filepath.Join(src, "big"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	big := rwDir(t, f, "big")
	name := func(i int) string { return fmt.Sprintf("file-%06d-%s", i, strings.Repeat("n", i%13)) }
	for i := range n {
		ip, err := big.Create(nowCtx, name(i), 0o644)
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		ip.(vfs.Evicter).Evict()
	}
	if l := dxLevels(t, f, "big"); l < 1 && n == 100000 {
		t.Errorf("indirect levels %d after %d names, want >= 1", l, n)
	}
	want := map[string]bool{}
	for i := range n {
		in, err := big.Lookup(name(i))
		if err != nil {
			t.Fatalf("lookup %s: %v", name(i), err)
		}
		in.(vfs.Evicter).Evict()
		if i%2 == 1 {
			wantErrno(t, "unlink", big.Unlink(nowCtx, name(i)), 0)
		} else {
			want[name(i)] = true
		}
	}
	if _, err := big.Lookup(name(1)); !errors.Is(err, abi.ENOENT) {
		t.Errorf("lookup of a removed name: %v", err)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	checkHostNames(t, filepath.Join(loopMount(t, img), "big"), want)
}

// TestHtreeLevels fills directories of 1 KiB blocks with 250-byte names
// (hard links to one file), a few to a leaf, so that the index needs every
// level it may have: three with large_dir, while without it the
// directory fills up with ENOSPC, as Linux's "Directory index full".
func TestHtreeLevels(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		n        int
		levels   int
		wantFull bool
	}{
		{"large_dir", []string{"-O", "large_dir"}, 33000, 2, false},
		{"no_large_dir", nil, 40000, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("slow")
			}
			img := mkfsTree(t, "128M", append([]string{"-b", "1024"}, c.args...), func(src string) {
				mustWrite(t, filepath.Join(src, "d/f"), "x")
			})
			f, _ := mountImageRW(t, img)
			d := rwDir(t, f, "d")
			target, err := d.Lookup("f")
			wantErrno(t, "lookup", err, 0)
			name := func(i int) string { return fmt.Sprintf("%06d-%s", i, strings.Repeat("z", 243)) }
			want := map[string]bool{"f": true}
			full := false
			for i := range c.n {
				err := d.Link(nowCtx, name(i), target)
				if errors.Is(err, abi.ENOSPC) && c.wantFull {
					full = true
					break
				}
				wantErrno(t, "link "+name(i), err, 0)
				want[name(i)] = true
			}
			if full != c.wantFull {
				t.Errorf("directory full: %v, want %v", full, c.wantFull)
			}
			if l := dxLevels(t, f, "d"); l != c.levels {
				t.Errorf("indirect levels %d, want %d", l, c.levels)
			}
			// Every name is found through the index.
			for nm := range want {
				if _, err := d.Lookup(nm); err != nil {
					t.Fatalf("lookup %s: %v", nm, err)
				}
			}
			// Drop most links again, so that the count fits and leaves
			// empty out.
			for i := range c.n {
				if !want[name(i)] || i%4 == 0 {
					continue
				}
				wantErrno(t, "unlink", d.Unlink(nowCtx, name(i)), 0)
				delete(want, name(i))
			}
			umountRW(t, f)
			e2fsckClean(t, img)
			host := filepath.Join(loopMount(t, img), "d")
			checkHostNames(t, host, want)
			if st, ok := hostStat(t, filepath.Join(host, "f")); !ok || st.nlink != uint64(len(want)) {
				t.Errorf("host: f has %d links, want %d", st.nlink, len(want))
			}
		})
	}
}

// TestMakeIndexed grows one-block directories past their block on each
// layout: the directory is made indexed (with dir_index) or gets linear
// blocks (without), and names stay found.
func TestMakeIndexed(t *testing.T) {
	for _, v := range append(slices.Clone(nameiVariants),
		nameiVariant{"nodirindex", []string{"-O", "^dir_index"}},
		nameiVariant{"tea", nil},
		nameiVariant{"legacy", nil},
		nameiVariant{"unsigned", nil}) {
		t.Run(v.name, func(t *testing.T) {
			img := mkfsTree(t, "32M", v.args, func(src string) {
				os.Mkdir(filepath.Join(src, "d"), 0o755)
				os.Mkdir(filepath.Join(src, "e"), 0o755)
				os.Mkdir(filepath.Join(src, "other"), 0o755)
			})
			switch v.name {
			case "unsigned":
				// As mkfs leaves it on a machine whose char is unsigned.
				testutil.Run(t, "debugfs", "-w", "-R", "ssv flags 2", img)
			case "tea", "legacy":
				testutil.Run(t, "tune2fs", "-E", "hash_alg="+v.name, img)
			}
			f, _ := mountImageRW(t, img)
			if v.name == "unsigned" && f.hashSigned {
				t.Fatal("hash still signed")
			}
			fill := func(d dirInode) map[string]bool {
				want := map[string]bool{}
				for i := 0; i < 300; i++ {
					// Bytes past 0x7f hash apart with signed and unsigned chars.
					nm := fmt.Sprintf("entry-%d-%s-é", i, strings.Repeat("q", i%40))
					var err error
					if i%3 == 0 {
						_, err = d.Mkdir(nowCtx, nm, 0o755)
					} else {
						_, err = d.Create(nowCtx, nm, 0o644)
					}
					wantErrno(t, "add "+nm, err, 0)
					want[nm] = true
				}
				for nm := range want {
					if _, err := d.Lookup(nm); err != nil {
						t.Fatalf("lookup %s: %v", nm, err)
					}
				}
				if d.isIndexed() != f.Super.HasCompat(disk.CompatDirIndex) {
					t.Errorf("indexed %v with dir_index %v", d.isIndexed(), f.Super.HasCompat(disk.CompatDirIndex))
				}
				if a, _ := d.Getattr(); a.Nlink != 2+100 {
					t.Errorf("nlink %d, want 102", a.Nlink)
				}
				return want
			}
			want := fill(rwDir(t, f, "d"))
			// Move the grown directory: its ".." (in the dx root when
			// indexed) names the new parent.
			wantErrno(t, "move d", rwDir(t, f, "").Rename(nowCtx, "d", rwDir(t, f, "other"), "d", 0), 0)
			// Empty another one name by name, then remove it.
			e := rwDir(t, f, "e")
			names := fill(e)
			wantErrno(t, "rmdir full e", rwDir(t, f, "").Rmdir(nowCtx, "e"), abi.ENOTEMPTY)
			for nm := range names {
				if err := e.Rmdir(nowCtx, nm); errors.Is(err, abi.ENOTDIR) {
					wantErrno(t, "unlink e/"+nm, e.Unlink(nowCtx, nm), 0)
				} else {
					wantErrno(t, "rmdir e/"+nm, err, 0)
				}
			}
			wantErrno(t, "rmdir emptied e", rwDir(t, f, "").Rmdir(nowCtx, "e"), 0)
			umountRW(t, f)
			e2fsckClean(t, img)
			mnt := loopMount(t, img)
			checkHostNames(t, filepath.Join(mnt, "other/d"), want)
			if _, ok := hostStat(t, filepath.Join(mnt, "e")); ok {
				t.Errorf("host: e still there")
			}
		})
	}
}
