//go:build linux

package ext4_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// bigallocLayouts are the bigalloc filesystems TestBigallocTree fills:
// 4 KiB blocks in clusters of 16, 1 KiB blocks in clusters of 4 (4 KiB
// blocks in clusters of 4 are TestWriteFile's bigalloc layout, 1 KiB ones
// in clusters of 16 TestWriteRandomOps's), without flex_bg (metadata in
// every group), with uninit_bg for metadata_csum and with the allocator's
// alloc=pack policy. In both 1 KiB layouts groups start BLOCK_UNINIT.
var bigallocLayouts = []struct {
	name, opts string
	args       []string
}{
	{"4k-C64k", "", []string{"-b", "4096", "-O", "bigalloc", "-C", "65536"}},
	{"1k-C4k-noflex", "", []string{"-b", "1024", "-O", "bigalloc,^flex_bg", "-C", "4096"}},
	{"1k-C4k-uninit-pack", "alloc=pack", []string{"-b", "1024", "-O", "bigalloc,^metadata_csum,uninit_bg", "-C", "4096"}},
}

// TestBigallocTree copies testutil.MakeTree's tree into bigalloc images
// through the kernel (hostcopy.To, what cptofs does), then removes,
// truncates, punches, preallocates and writes on the image and, the same
// way, on a copy of the tree on the host. After each stage e2fsck -fn must
// be clean, the host kernel must show the tree as the host has it, and our
// statfs must count the blocks and inodes the host kernel counts (df).
// Then the host kernel writes files that ours changes, checked the same
// way. With -short, the first layout only.
func TestBigallocTree(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck", "cp")
	testutil.NeedLoop(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	layouts := bigallocLayouts
	if testing.Short() {
		layouts = layouts[:1]
	}
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "256M", lay.args...)
			twin := filepath.Join(t.TempDir(), "twin")
			testutil.Run(t, "cp", "-a", src, twin) // holes kept, zeros written
			var df abi.Statfs
			kerneltest.WithKernel(t, img, lay.opts, func(k *kernel.Kernel, must func(string, error)) {
				var errs []string
				opts := hostcopy.Options{Owners: true, Report: func(err error) { errs = append(errs, err.Error()) }}
				if err := hostcopy.To(k, "/mnt", []string{src + "/."}, "/", opts); err != nil || len(errs) > 0 {
					t.Fatalf("hostcopy.To: %v %q", err, errs)
				}
				must("statfs", k.Statfs("/mnt", &df))
			})
			checkBigalloc(t, img, twin, df, "after the copy", testutil.CompareOptions{HoleUnit: 4096})

			kerneltest.WithKernel(t, img, lay.opts, func(k *kernel.Kernel, must func(string, error)) {
				bigallocOps(twinOps{t: t, k: k, must: must, twin: twin})
				must("statfs", k.Statfs("/mnt", &df))
			})
			// The kernel's clock is not the host's.
			noMtime := testutil.CompareOptions{Ignore: []string{"mtime"}, HoleUnit: 4096}
			checkBigalloc(t, img, twin, df, "after the changes", noMtime)

			// Files the host kernel wrote, changed by ours.
			mnt, umount := testutil.HostMount(t, img, "rw")
			linuxOps(twinOps{t: t, mnt: mnt, twin: twin})
			umount()
			testutil.E2fsckClean(t, img)
			kerneltest.WithKernel(t, img, lay.opts, func(k *kernel.Kernel, must func(string, error)) {
				changeLinuxFiles(twinOps{t: t, k: k, must: must, twin: twin})
				must("statfs", k.Statfs("/mnt", &df))
			})
			checkBigalloc(t, img, twin, df, "after changing the host's files", noMtime)
		})
	}
}

// TestBigallocRandomOps makes random changes to a few files of a bigalloc
// image and of a host directory alike: writes, holes punched, space
// preallocated or zeroed, truncations, unlinks, xattrs set and removed,
// commits. Every 300 changes the image is unmounted and checked as in
// TestBigallocTree (but for holes, which ZERO_RANGE makes where the host's
// ext4, with other block sizes, may write zeros).
func TestBigallocRandomOps(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	testutil.NeedLoop(t)
	layouts := [][]string{
		{"-b", "1024", "-O", "bigalloc", "-C", "8192"},
		{"-b", "4096", "-O", "bigalloc,^metadata_csum", "-C", "32768"},
	}
	if testing.Short() {
		layouts = layouts[:1]
	}
	for _, args := range layouts {
		t.Run(args[1]+"-"+args[5], func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "128M", args...)
			twin := t.TempDir()
			rnd := rand.New(rand.NewSource(11))
			exists := map[string]bool{}
			xattr := map[string]bool{}
			var df abi.Statfs
			for round := 0; round < 3; round++ {
				kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
					o := twinOps{t: t, k: k, must: must, twin: twin}
					for range 300 {
						name := "f" + strconv.Itoa(rnd.Intn(6))
						off, n := rnd.Int63n(3*mib/2), 1+rnd.Int63n(20*kib)
						op := rnd.Intn(100)
						if !exists[name] && op >= 62 {
							op = 0 // the rest need the file
						}
						switch {
						case op < 40:
							o.write(name, off, pattern(int(n), byte(op)))
						case op < 50:
							o.falloc(name, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
						case op < 56:
							o.falloc(name, unix.FALLOC_FL_KEEP_SIZE, off, n)
						case op < 62:
							o.falloc(name, 0, off, n)
						case op < 67:
							o.falloc(name, unix.FALLOC_FL_ZERO_RANGE, off, n)
						case op < 73:
							o.truncate(name, rnd.Int63n(3*mib/2))
						case op < 78:
							o.remove(name, false)
							delete(exists, name)
							delete(xattr, name)
							continue
						case op < 86:
							o.setxattr(name, "user.x", pattern(100+rnd.Intn(600), byte(op)))
							xattr[name] = true
						case op < 90 && xattr[name]:
							o.removexattr(name, "user.x")
							delete(xattr, name)
						default:
							must("sync", k.Sync())
						}
						exists[name] = true
					}
					must("statfs", k.Statfs("/mnt", &df))
				})
				checkBigalloc(t, img, twin, df, "round "+strconv.Itoa(round), testutil.CompareOptions{Ignore: []string{"mtime"}})
			}
		})
	}
}

// twinOps makes each change on an image and on a host tree, twin, alike:
// on the image through the kernel k (mounted at /mnt) or, when k is nil,
// through the host kernel, which has it mounted at mnt.
type twinOps struct {
	t    *testing.T
	k    *kernel.Kernel
	must func(string, error)
	mnt  string
	twin string
}

// host applies op to name under the twin, and under the host's mount of
// the image when the host writes it.
func (o twinOps) host(what, name string, op func(path string) error) {
	o.t.Helper()
	roots := []string{o.twin}
	if o.k == nil {
		roots = append(roots, o.mnt)
	}
	for _, r := range roots {
		if err := op(filepath.Join(r, name)); err != nil {
			o.t.Fatalf("host: %s %s: %v", what, name, err)
		}
	}
}

// onFile opens name (creating it) on both sides and runs the two halves
// of an operation on the file descriptors.
func (o twinOps) onFile(what, name string, ours func(fd int) error, host func(fh *os.File) error) {
	o.t.Helper()
	if o.k != nil {
		fd, err := o.k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_RDWR|abi.O_CREAT, 0o644)
		o.must("open "+name, err)
		o.must(what+" "+name, ours(fd))
		o.must("close "+name, o.k.Close(fd))
	}
	o.host(what, name, func(path string) error {
		fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		if err := host(fh); err != nil {
			fh.Close()
			return err
		}
		return fh.Close()
	})
}

func (o twinOps) write(name string, off int64, p []byte) {
	o.t.Helper()
	o.onFile("pwrite", name, func(fd int) error {
		n, err := o.k.Pwrite(fd, p, off)
		if err == nil && n != len(p) {
			o.t.Fatalf("pwrite %s: %d of %d bytes", name, n, len(p))
		}
		return err
	}, func(fh *os.File) error {
		_, err := fh.WriteAt(p, off)
		return err
	})
}

func (o twinOps) falloc(name string, mode uint32, off, n int64) {
	o.t.Helper()
	o.onFile("fallocate", name, func(fd int) error { return o.k.Fallocate(fd, mode, off, n) },
		func(fh *os.File) error { return unix.Fallocate(int(fh.Fd()), mode, off, n) })
}

func (o twinOps) remove(name string, dir bool) {
	o.t.Helper()
	if o.k != nil {
		flags := 0
		if dir {
			flags = abi.AT_REMOVEDIR
		}
		o.must("unlink "+name, o.k.Unlinkat(abi.AT_FDCWD, "/mnt/"+name, flags))
	}
	o.host("unlink", name, os.Remove)
}

func (o twinOps) truncate(name string, size int64) {
	o.t.Helper()
	if o.k != nil {
		o.must("truncate "+name, o.k.Truncate("/mnt/"+name, size))
	}
	o.host("truncate", name, func(path string) error { return os.Truncate(path, size) })
}

func (o twinOps) removexattr(name, attr string) {
	o.t.Helper()
	if o.k != nil {
		o.must("removexattr "+name, o.k.Removexattr("/mnt/"+name, attr))
	}
	o.host("removexattr", name, func(path string) error { return unix.Removexattr(path, attr) })
}

func (o twinOps) setxattr(name, attr string, value []byte) {
	o.t.Helper()
	if o.k != nil {
		o.must("setxattr "+name, o.k.Setxattr("/mnt/"+name, attr, value, 0))
	}
	o.host("setxattr", name, func(path string) error { return unix.Setxattr(path, attr, value, 0) })
}

// pattern is n bytes of a pattern that differs with seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i>>9)
	}
	return p
}

const kib, mib = 1 << 10, 1 << 20

// bigallocOps changes the image and its twin in the ways that free or
// share parts of clusters: whole files and a directory of 2000 entries
// removed, a file cut inside a cluster, holes punched across and inside
// clusters, blocks preallocated and written into, new files written into
// the space freed, and xattrs large enough for an xattr block.
func bigallocOps(o twinOps) {
	o.t.Helper()
	const K, M = kib, mib
	// A directory of 2000 entries (an htree) and a file of 3 MiB go.
	ents, err := os.ReadDir(filepath.Join(o.twin, "many"))
	if err != nil {
		o.t.Fatal(err)
	}
	for _, e := range ents {
		o.remove("many/"+e.Name(), false)
	}
	o.remove("many", true)
	o.remove("big.bin", false)
	// A cut inside a cluster keeps the cluster; the data after it goes.
	o.truncate("sparse/hole-middle", M+5000)
	// Holes across clusters and inside one, in a file whose 4 KiB
	// pieces of data lie 16 KiB apart (4 to a 64 KiB cluster).
	o.falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 20*K, 80*K)
	o.falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 128*K, 4*K)
	o.falloc("sparse/many-holes", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 200*K+512, 3*K)
	// Preallocated past EOF, then written in part.
	o.falloc("zeros.bin", unix.FALLOC_FL_KEEP_SIZE, 70000, 300*K)
	o.write("zeros.bin", 100000, pattern(5000, 1))
	o.falloc("sparse/hole-end", 0, 5*M, 64*K)
	// New files in the space freed: single blocks at scattered offsets
	// (several to a cluster), a run of 1 MiB and a large file.
	scatter(o, "scatter", 0)
	o.write("run", 12345, pattern(M, 9))
	// 40 MiB: into the groups after the first (BLOCK_UNINIT in the 1 KiB
	// layouts, whose groups hold 32 MiB).
	o.write("large", 0, pattern(40*M, 5))
	// A hole punched over all of a file's blocks but the last.
	o.falloc("run", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, M)
	// Xattrs that need a block of their own, on new and old files.
	for _, name := range []string{"scatter", "run", "small.txt", "sparse/many-holes"} {
		o.setxattr(name, "user.bigalloc", pattern(600, 3))
	}
	o.remove("small.txt", false)
}

// scatter writes 700 bytes at 40 offsets of name, i*i*3 KiB + i*100 for
// the i-th: several to a cluster at first, then further apart.
func scatter(o twinOps, name string, seed byte) {
	o.t.Helper()
	for i := int64(0); i < 40; i++ {
		o.write(name, i*i*3*kib+i*100, pattern(700, seed+byte(i)))
	}
}

// linuxOps has the host kernel write files whose clusters it shares out
// in its own way, for ours to change in changeLinuxFiles.
func linuxOps(o twinOps) {
	o.t.Helper()
	scatter(o, "linux-scatter", 50)
	o.write("linux-run", 3000, pattern(2*mib, 7))
	o.falloc("linux-run", unix.FALLOC_FL_KEEP_SIZE, 2*mib, 200*kib)
	o.write("linux-gone", 0, pattern(300*kib, 8))
	o.falloc("linux-prealloc", 0, 5*kib, 100*kib)
}

// changeLinuxFiles changes, through our kernel, the files linuxOps had the
// host kernel write.
func changeLinuxFiles(o twinOps) {
	o.t.Helper()
	o.remove("linux-gone", false)
	o.truncate("linux-scatter", 20*kib+100)
	scatter(o, "linux-scatter", 90) // into the holes and clusters left
	o.falloc("linux-run", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 5000, 70*kib)
	o.falloc("linux-run", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, mib+1, 3*kib)
	o.write("linux-run", 2*mib+50*kib, pattern(20*kib, 4)) // into the preallocation
	o.truncate("linux-run", mib+7000)
	o.write("linux-prealloc", 9*kib, pattern(kib, 6))
}

// checkBigalloc checks an image against the host tree twin: e2fsck -fn,
// the host kernel's view of the image (compared with o; HoleUnit 4096
// compares holes a page wide), and its df against ours.
func checkBigalloc(t *testing.T, img, twin string, df abi.Statfs, when string, o testutil.CompareOptions) {
	t.Helper()
	testutil.E2fsckClean(t, img)
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	got, err := testutil.ScanDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	o.SkipPaths = []string{"lost+found"}
	evictPages(t, twin)
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

// evictPages drops the host's cached pages of the files under dir: the
// host's ext4 reports the unwritten blocks of a file as data once their
// pages are cached (the last scan read them), as holes otherwise, which
// is what the freshly mounted image shows.
func evictPages(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		if err := fh.Sync(); err != nil {
			return err
		}
		return unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		t.Fatal(err)
	}
}
