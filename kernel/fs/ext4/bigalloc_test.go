//go:build linux

package ext4_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// bigallocLayouts are the bigalloc filesystems TestBigallocTree fills:
// clusters of 16 blocks of 4 KiB and of 4 and 16 blocks of 1 KiB (4 KiB
// blocks in clusters of 4 are TestWriteFile's bigalloc layout),
// with and without flex_bg and metadata_csum (uninit_bg in its place).
var bigallocLayouts = []struct {
	name string
	args []string
}{
	{"4k-C64k", []string{"-b", "4096", "-O", "bigalloc", "-C", "65536"}},
	{"1k-C4k-noflex", []string{"-b", "1024", "-O", "bigalloc,^flex_bg", "-C", "4096"}},
	{"1k-C16k-uninit", []string{"-b", "1024", "-O", "bigalloc,^metadata_csum,uninit_bg", "-C", "16384"}},
}

// TestBigallocTree copies testutil.MakeTree's tree into bigalloc images
// through the kernel (hostcopy.To, what cptofs does), then removes,
// truncates, punches, preallocates and writes on the image and, the same
// way, on a copy of the tree on the host. After each stage e2fsck -fn must
// be clean, the host kernel must show the tree as the host has it, and our
// statfs must count the blocks and inodes the host kernel counts (df).
func TestBigallocTree(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck", "cp")
	testutil.NeedLoop(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	for _, lay := range bigallocLayouts {
		t.Run(lay.name, func(t *testing.T) {
			img := sparseImage(t, "256M", lay.args...)
			twin := filepath.Join(t.TempDir(), "twin")
			testutil.Run(t, "cp", "-a", src, twin) // holes kept, zeros written
			var df abi.Statfs
			withKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				var errs []string
				opts := hostcopy.Options{Owners: true, Report: func(err error) { errs = append(errs, err.Error()) }}
				if err := hostcopy.To(k, "/mnt", []string{src + "/."}, "/", opts); err != nil || len(errs) > 0 {
					t.Fatalf("hostcopy.To: %v %q", err, errs)
				}
				must("statfs", k.Statfs("/mnt", &df))
			})
			checkBigalloc(t, img, twin, df, "after the copy", testutil.CompareOptions{})

			withKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				bigallocOps(t, k, must, twin)
				must("statfs", k.Statfs("/mnt", &df))
			})
			// The kernel's clock is not the host's.
			checkBigalloc(t, img, twin, df, "after the changes", testutil.CompareOptions{Ignore: []string{"mtime"}})
		})
	}
}

// bigallocOps changes the image mounted at /mnt in k and the host tree
// twin alike, in the ways that free or share parts of clusters: whole
// files and a directory of 2000 entries removed, a file cut inside a
// cluster, holes punched across and inside clusters, blocks preallocated
// and written into, new files written into the space freed, and xattrs
// large enough for an xattr block.
func bigallocOps(t *testing.T, k *kernel.Kernel, must func(string, error), twin string) {
	t.Helper()
	host := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("host: %s: %v", what, err)
		}
	}
	open := func(name string) (int, *os.File) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_RDWR|abi.O_CREAT, 0o644)
		must("open "+name, err)
		fh, err := os.OpenFile(filepath.Join(twin, name), os.O_RDWR|os.O_CREATE, 0o644)
		host("open "+name, err)
		return fd, fh
	}
	done := func(fd int, fh *os.File) {
		must("close", k.Close(fd))
		host("close", fh.Close())
	}
	remove := func(name string, dir bool) {
		flags := 0
		if dir {
			flags = abi.AT_REMOVEDIR
		}
		must("unlink "+name, k.Unlinkat(abi.AT_FDCWD, "/mnt/"+name, flags))
		host("unlink "+name, os.Remove(filepath.Join(twin, name)))
	}
	falloc := func(name string, mode uint32, off, n int64) {
		fd, fh := open(name)
		must("fallocate "+name, k.Fallocate(fd, mode, off, n))
		host("fallocate "+name, unix.Fallocate(int(fh.Fd()), mode, off, n))
		done(fd, fh)
	}
	write := func(name string, off int64, p []byte) {
		fd, fh := open(name)
		n, err := k.Pwrite(fd, p, off)
		if err == nil && n != len(p) {
			t.Fatalf("pwrite %s: %d of %d bytes", name, n, len(p))
		}
		must("pwrite "+name, err)
		_, err = fh.WriteAt(p, off)
		host("pwrite "+name, err)
		done(fd, fh)
	}
	truncate := func(name string, size int64) {
		must("truncate "+name, k.Truncate("/mnt/"+name, size))
		host("truncate "+name, os.Truncate(filepath.Join(twin, name), size))
	}
	setxattr := func(name, attr string, value []byte) {
		must("setxattr "+name, k.Setxattr("/mnt/"+name, attr, value, 0))
		host("setxattr "+name, unix.Setxattr(filepath.Join(twin, name), attr, value, 0))
	}
	pattern := func(n int, seed byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = seed + byte(i*7+i>>9)
		}
		return p
	}
	const K, M = 1 << 10, 1 << 20

	// A directory of 2000 entries (an htree) and a file of 3 MiB go.
	ents, err := os.ReadDir(filepath.Join(twin, "many"))
	host("readdir many", err)
	for _, e := range ents {
		remove("many/"+e.Name(), false)
	}
	remove("many", true)
	remove("big.bin", false)
	// A cut inside a cluster keeps the cluster; the data after it goes.
	truncate("sparse/hole-middle", M+5000)
	// Holes across clusters and inside one, in a file whose 4 KiB
	// pieces of data lie 16 KiB apart (4 to a 64 KiB cluster).
	falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 20*K, 80*K)
	falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 128*K, 4*K)
	falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 200*K+512, 3*K)
	// Preallocated past EOF, then written in part.
	falloc("zeros.bin", unix.FALLOC_FL_KEEP_SIZE, 70000, 300*K)
	write("zeros.bin", 100000, pattern(5000, 1))
	falloc("sparse/hole-end", 0, 5*M, 64*K)
	// New files in the space freed: single blocks at scattered offsets
	// (several to a cluster), and a run of 1 MiB.
	for i := int64(0); i < 40; i++ {
		write("scatter", i*i*3*K+i*100, pattern(700, byte(i)))
	}
	write("run", 12345, pattern(M, 9))
	// A hole punched over all of a file's blocks but the last.
	falloc("run", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, M)
	// Xattrs that need a block of their own, on new and old files.
	for _, name := range []string{"scatter", "run", "small.txt", "sparse/many-holes"} {
		setxattr(name, "user.bigalloc", pattern(600, 3))
	}
	remove("small.txt", false)
}

// checkBigalloc checks an image against the host tree twin: e2fsck -fn,
// the host kernel's view of the image (compared with o), and its df
// against ours.
func checkBigalloc(t *testing.T, img, twin string, df abi.Statfs, when string, o testutil.CompareOptions) {
	t.Helper()
	e2fsck(t, img)
	mnt, umount := hostMount(t, img, "ro")
	defer umount()
	got, err := testutil.ScanDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	o.SkipPaths, o.HoleUnit = []string{"lost+found"}, 4096
	testutil.ExpectSame(t, when, testutil.MustScanDir(t, twin), got, o)
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks != df.Blocks || st.Bfree != df.Bfree || st.Bavail != df.Bavail || st.Files != df.Files || st.Ffree != df.Ffree {
		t.Errorf("%s: host statfs blocks %d free %d avail %d files %d free %d; ours %d %d %d %d %d", when,
			st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree, df.Blocks, df.Bfree, df.Bavail, df.Files, df.Ffree)
	}
}
