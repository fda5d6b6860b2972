package xfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
)

// Images for the tests: mkfs.xfs makes them (300 MiB, sparse: the least
// mkfs.xfs 6.x takes), the host kernel fills them through a loop mount
// with MakeTree's tree and the shapes XFS stores in several forms
// (extraShapes), and unmounts them clean.

// mkfsXFS makes an empty image of 300 MiB with mkfs.xfs ARGS.
func mkfsXFS(t testing.TB, args ...string) string {
	t.Helper()
	return testutil.MkfsXFS(t, 300<<20, args...)
}

// hostMounts reports whether the host kernel mounts img (its XFS may
// lack v4 support, CONFIG_XFS_SUPPORT_V4).
func hostMounts(t testing.TB, img string) bool {
	t.Helper()
	testutil.NeedLoop(t)
	mnt := t.TempDir()
	if err := exec.Command("mount", "-o", "loop,ro", img, mnt).Run(); err != nil {
		return false
	}
	testutil.Run(t, "umount", mnt)
	return true
}

// extraShapes writes what MakeTree has little of, each XFS form of its
// structures: directories of 3, 40, 400 and 6000 entries (shortform,
// block, leaf and node forms), one with most names removed (stale leaf
// entries, free space in data blocks); a file written every other block
// (a bmap btree), unwritten extents (fallocate), holes; symlinks inline
// and in blocks; attributes few and small (shortform), many (a leaf),
// very many (a da btree), and values of 3000 and 65536 bytes (remote);
// a reflinked copy when reflink is given.
func extraShapes(t testing.TB, reflink bool) func(string) {
	return shapes(t, reflink, 1)
}

func shapes(t testing.TB, reflink bool, div int) func(string) {
	return func(mnt string) {
		t.Helper()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		x := filepath.Join(mnt, "xfs-shapes")
		must(os.MkdirAll(x, 0o755))
		for _, n := range []int{3, 40, 400, 6000 / div} {
			d := filepath.Join(x, fmt.Sprintf("dir-%d", n))
			must(os.Mkdir(d, 0o755))
			for i := range n {
				name := fmt.Sprintf("entry-%d-%s", i, strings.Repeat("x", i%37))
				must(os.WriteFile(filepath.Join(d, name), []byte(name), 0o644))
			}
		}
		thin := filepath.Join(x, "thinned")
		must(os.Mkdir(thin, 0o755))
		for i := range 3000 / div {
			must(os.WriteFile(filepath.Join(thin, fmt.Sprintf("f%05d", i)), nil, 0o600))
		}
		for i := range 3000 / div {
			if i%7 != 0 {
				must(os.Remove(filepath.Join(thin, fmt.Sprintf("f%05d", i))))
			}
		}
		// 512 names of one hash (xfs_da_hashname folds 8-bit bytes
		// into 7-bit steps: flipping bit 0 of a byte and bit 7 of the
		// next keeps the hash) among 2000 others: their leaf entries
		// run over several leaf blocks of a node directory.
		coll := filepath.Join(x, "collisions")
		must(os.Mkdir(coll, 0o755))
		for i := range 512 / div {
			name := []byte("AAAABBBBCCCC")
			for k := range 9 {
				if i>>k&1 != 0 {
					at := k/3*4 + k%3
					name[at] ^= 1
					name[at+1] ^= 0x80
				}
			}
			must(os.WriteFile(filepath.Join(coll, string(name)), []byte{byte(i)}, 0o644))
		}
		for i := range 2000 / div {
			must(os.WriteFile(filepath.Join(coll, fmt.Sprintf("other-%d", i)), nil, 0o644))
		}
		// Every other 4 KiB block written: one extent each (more
		// than an inode holds), so a bmap btree.
		fr, err := os.Create(filepath.Join(x, "fragmented"))
		must(err)
		blk := make([]byte, 4096)
		for i := range 1500 / div {
			for j := range blk {
				blk[j] = byte(i + j/97)
			}
			_, err := fr.WriteAt(blk, int64(i)*8192)
			must(err)
		}
		must(fr.Close())
		un, err := os.Create(filepath.Join(x, "unwritten"))
		must(err)
		must(unix.Fallocate(int(un.Fd()), 0, 0, 1<<20))
		_, err = un.WriteAt([]byte("written in the middle"), 300000)
		must(err)
		must(unix.Fallocate(int(un.Fd()), unix.FALLOC_FL_KEEP_SIZE, 1<<20, 1<<20))
		must(un.Close())
		sp, err := os.Create(filepath.Join(x, "sparse"))
		must(err)
		_, err = sp.WriteAt([]byte("tail"), 50<<20)
		must(err)
		_, err = sp.WriteAt([]byte("head"), 0)
		must(err)
		must(sp.Close())
		must(os.Symlink("short", filepath.Join(x, "link-short")))
		must(os.Symlink(strings.Repeat("long/", 200)+"end", filepath.Join(x, "link-long")))
		must(os.Symlink(strings.Repeat("y", 1023), filepath.Join(x, "link-max")))
		set := func(p, name string, v []byte) {
			t.Helper()
			must(unix.Lsetxattr(p, name, v, 0))
		}
		for _, c := range []struct {
			name string
			n    int
			size int
		}{{"attrs-few", 3, 10}, {"attrs-leaf", 60, 20}, {"attrs-node", 1500 / div, 30}, {"attrs-remote", 2, 3000}, {"attrs-huge", 1, 65536}} {
			p := filepath.Join(x, c.name)
			must(os.WriteFile(p, []byte(c.name), 0o644))
			for i := range c.n {
				v := make([]byte, c.size)
				for j := range v {
					v[j] = byte(i*7 + j)
				}
				set(p, fmt.Sprintf("user.attr-%04d", i), v)
			}
			set(p, "trusted.t", []byte("trusted value"))
			set(p, "security.s", []byte("security value"))
		}
		if reflink {
			src := filepath.Join(x, "fragmented")
			testutil.Run(t, "cp", "--reflink=always", src, filepath.Join(x, "reflinked"))
		}
	}
}

// xfsTree returns the shared MakeTree tree.
func xfsTree(t testing.TB) string {
	t.Helper()
	src, _ := shared.Get(t)
	return src
}
