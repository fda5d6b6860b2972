//go:build linux

package e2fsprogs_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"golang.org/x/sys/unix"
)

// The tests of alloc=pack, Minimize and AddJournal. Their oracles are
// e2fsprogs: e2fsck -fn after every step, dumpe2fs for where the blocks
// and inodes in use lie (parsed by readDump, independently of the
// driver's own bitmap code), resize2fs and tune2fs on copies for what the
// results should agree on, and the host kernel for mounting them.

// dump is what dumpe2fs -h and its group listing say about an image.
type dump struct {
	head   map[string]string // "Block count" -> "16777216"
	groups []dumpGroup
}

type dumpGroup struct {
	first, last uint64      // the group's blocks
	meta        [][2]uint64 // superblock, descriptors, reserved GDT, bitmaps, inode table (inclusive ranges)
	freeBlocks  [][2]uint64
	freeInodes  [][2]uint64
	flags       string
}

var (
	reGroup  = regexp.MustCompile(`^Group (\d+): \(Blocks (\d+)-(\d+)\)(.*)$`)
	reMeta   = regexp.MustCompile(`(?:superblock at|Group descriptors? at|Reserved GDT blocks at|bitmap at|Inode table at) (\d+)(?:-(\d+))?`)
	reRanges = regexp.MustCompile(`(\d+)(?:-(\d+))?`)
)

// readDump runs dumpe2fs on img and parses its output.
func readDump(t *testing.T, img string) *dump {
	t.Helper()
	out, err := exec.Command("dumpe2fs", img).Output()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v", img, err)
	}
	d := &dump{head: map[string]string{}}
	ranges := func(s string) [][2]uint64 {
		var r [][2]uint64
		for _, m := range reRanges.FindAllStringSubmatch(s, -1) {
			a, _ := strconv.ParseUint(m[1], 10, 64)
			b := a
			if m[2] != "" {
				b, _ = strconv.ParseUint(m[2], 10, 64)
			}
			r = append(r, [2]uint64{a, b})
		}
		return r
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := reGroup.FindStringSubmatch(line); m != nil {
			a, _ := strconv.ParseUint(m[2], 10, 64)
			b, _ := strconv.ParseUint(m[3], 10, 64)
			d.groups = append(d.groups, dumpGroup{first: a, last: b, flags: m[4]})
			continue
		}
		if len(d.groups) == 0 {
			if k, v, ok := strings.Cut(line, ":"); ok {
				d.head[k] = strings.TrimSpace(v)
			}
			continue
		}
		g := &d.groups[len(d.groups)-1]
		s := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(s, "Free blocks: "):
			g.freeBlocks = ranges(strings.TrimPrefix(s, "Free blocks: "))
		case strings.HasPrefix(s, "Free inodes: "):
			g.freeInodes = ranges(strings.TrimPrefix(s, "Free inodes: "))
		default:
			for _, m := range reMeta.FindAllStringSubmatch(s, -1) {
				a, _ := strconv.ParseUint(m[1], 10, 64)
				b := a
				if m[2] != "" {
					b, _ = strconv.ParseUint(m[2], 10, 64)
				}
				if strings.Contains(m[0], "Inode table") {
					n, _ := strconv.ParseUint(d.head["Inode blocks per group"], 10, 64)
					b = a + n - 1
				}
				g.meta = append(g.meta, [2]uint64{a, b})
			}
		}
	}
	return d
}

func (d *dump) num(t *testing.T, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.Fields(d.head[key] + " x")[0], 10, 64)
	if err != nil {
		t.Fatalf("dumpe2fs: %q: %q", key, d.head[key])
	}
	return v
}

// usage is where an image's data (every block in use that is not a
// group's superblock, descriptors, reserved GDT blocks, bitmaps or inode
// table) and inodes lie, by dumpe2fs.
type usage struct {
	highBlock  uint64 // the highest data block
	dataBlocks uint64 // data blocks in use
	holes      uint64 // free blocks below highBlock
	highInode  uint64 // the highest inode in use
	freeBelow  uint64 // free inodes below highInode
}

func (d *dump) usage(t *testing.T) usage {
	t.Helper()
	blocks := d.num(t, "Block count")
	first := d.num(t, "First block")
	inodes := d.num(t, "Inode count")
	used := make([]bool, blocks)
	for i := first; i < blocks; i++ {
		used[i] = true
	}
	meta := make([]bool, blocks)
	iused := make([]bool, inodes+1)
	for i := range iused {
		iused[i] = true
	}
	// With bigalloc dumpe2fs ends a free range at its last cluster's
	// first block.
	ratio := uint64(1)
	if d.head["Cluster size"] != "" {
		ratio = d.num(t, "Cluster size") / d.num(t, "Block size")
	}
	for _, g := range d.groups {
		for _, r := range g.freeBlocks {
			for b := r[0]; b < r[1]+ratio && b < blocks; b++ {
				used[b] = false
			}
		}
		for _, r := range g.meta {
			for b := r[0]; b <= r[1] && b < blocks; b++ {
				meta[b] = true
			}
		}
		for _, r := range g.freeInodes {
			for i := r[0]; i <= r[1] && i <= inodes; i++ {
				iused[i] = false
			}
		}
	}
	// With bigalloc a cluster holding a metadata block is metadata
	// whole (its other blocks are in use and hold nothing).
	if ratio > 1 {
		for c := uint64(0); c < blocks; c += ratio {
			if slices.Contains(meta[c:min(c+ratio, blocks)], true) {
				for b := c; b < min(c+ratio, blocks); b++ {
					meta[b] = true
				}
			}
		}
	}
	var u usage
	for b := first; b < blocks; b++ {
		if used[b] && !meta[b] {
			u.highBlock = b
			u.dataBlocks++
		}
	}
	for b := first; b < u.highBlock; b++ {
		if !used[b] {
			u.holes++
		}
	}
	for i := uint64(1); i <= inodes; i++ {
		if iused[i] {
			u.highInode = i
		}
	}
	for i := uint64(1); i < u.highInode; i++ {
		if !iused[i] {
			u.freeBelow++
		}
	}
	return u
}

// writeMix writes, through the syscalls, what makes every kind of block
// the allocator hands out: top-level directories (which the default
// policy spreads over the disk), files of varied sizes, a directory big
// enough for an htree, a file of many extents (an extent tree block) and
// an xattr too big for the inode (an xattr block). It returns the number
// of inodes it made.
func writeMix(k *kernel.Kernel, must func(string, error)) int {
	n := 0
	write := func(path string, data []byte, off int64) {
		fd, err := k.Openat(abi.AT_FDCWD, path, abi.O_CREAT|abi.O_WRONLY, 0o644)
		must("create "+path, err)
		for len(data) > 0 {
			w, err := k.Pwrite(fd, data, off)
			must("write "+path, err)
			data, off = data[w:], off+int64(w)
		}
		must("close", k.Close(fd))
	}
	pattern := func(size int, seed byte) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = seed + byte(i*7+i/4096)
		}
		return b
	}
	sizes := []int{0, 1, 100, 4095, 4096, 4097, 65536, 300000, 1 << 20, 3<<20 + 5}
	for d := range 6 {
		dir := fmt.Sprintf("/mnt/top%d", d)
		must("mkdir", k.Mkdirat(abi.AT_FDCWD, dir, 0o755))
		n++
		for i, s := range sizes {
			write(fmt.Sprintf("%s/f%d", dir, i), pattern(s, byte(d+i)), 0)
			n++
		}
		must("mkdir", k.Mkdirat(abi.AT_FDCWD, dir+"/sub", 0o755))
		n++
	}
	must("mkdir", k.Mkdirat(abi.AT_FDCWD, "/mnt/big", 0o755))
	n++
	for i := range 400 {
		write(fmt.Sprintf("/mnt/big/a-rather-long-file-name-%04d", i), pattern(i%3*1000, byte(i)), 0)
		n++
	}
	// Every other block: one extent each, past the four in the inode.
	for i := range 40 {
		write("/mnt/sparse", pattern(4096, byte(i)), int64(i)*8192)
	}
	n++
	must("setxattr", k.Setxattr("/mnt/top0/f1", "user.big", pattern(800, 9), 0))
	return n
}

// TestAllocPack fills two copies of a 64 GiB filesystem with the same
// files, with and without alloc=pack: with it, the data and inodes must
// lie at the start, without holes; without it, the default policy must
// still spread the top-level directories over the flex groups.
func TestAllocPack(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"4k", []string{"-O", "^has_journal"}},
		{"1k-noflex-32bit", []string{"-b", "1024", "-O", "^has_journal,^flex_bg,^64bit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packed := testutil.Mke2fsImage(t, "64G", tc.args...)
			spread := testutil.Mke2fsImage(t, "64G", tc.args...)
			var made int
			kerneltest.WithKernel(t, packed, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) { made = writeMix(k, must) })
			kerneltest.WithKernel(t, spread, "", func(k *kernel.Kernel, must func(string, error)) { writeMix(k, must) })
			testutil.E2fsckClean(t, packed)
			testutil.E2fsckClean(t, spread)
			dp, ds := readDump(t, packed), readDump(t, spread)
			p, s := dp.usage(t), ds.usage(t)
			t.Logf("packed: %+v", p)
			t.Logf("default: %+v", s)
			// The same files, in about as many blocks (a file split by the
			// packing may take an extent tree block more).
			if a, b := dp.num(t, "Free blocks"), ds.num(t, "Free blocks"); a+8 < b || b+8 < a {
				t.Errorf("packed leaves %d free blocks, default %d", a, b)
			}
			// Packed: few free blocks below the last data block (those a
			// run that did not fit skipped, and the disk gaps of the
			// sparse file), no free inode below the last one in use.
			if p.holes > 64+p.dataBlocks/100 {
				t.Errorf("packed: %d free blocks below the last data block %d", p.holes, p.highBlock)
			}
			if first := dp.num(t, "First inode"); p.freeBelow != 0 || p.highInode != first-1+uint64(made)+1 {
				// +1: lost+found.
				t.Errorf("packed: highest inode %d with %d free below, want %d", p.highInode, p.freeBelow, first+uint64(made))
			}
			bpg := dp.num(t, "Blocks per group")
			if s.highBlock < 4*bpg {
				t.Errorf("default policy: last data block %d, expected spread beyond group 4", s.highBlock)
			}
		})
	}
}

// TestAllocBadClustersPerGroup: a superblock whose s_clusters_per_group
// exceeds what a bitmap block holds (without bigalloc, where the mount
// does not check it) must not make a write panic.
func TestAllocBadClustersPerGroup(t *testing.T) {
	img := testutil.Mke2fsImage(t, "64M")
	testutil.Run(t, "debugfs", "-w", "-R", "ssv clusters_per_group 99999", img)
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
	if err := k.Mount("/dev/vda", "/mnt", "ext4", 0, ""); err != nil {
		return // refused: as good
	}
	if fd, err := k.Openat(abi.AT_FDCWD, "/mnt/x", abi.O_CREAT|abi.O_WRONLY, 0o644); err == nil {
		k.Write(fd, []byte("x"))
		k.Close(fd)
	}
	k.Umount("/mnt", 0)
}

// minimizeCases are the layouts Minimize is tried on: mke2fs's defaults
// and the features that change where metadata lies.
var minimizeCases = []struct {
	name, size string
	args       []string
	free       uint64 // 0: 1000
}{
	{"4k", "64G", []string{"-O", "^has_journal"}, 0},
	{"4k-noresize", "16G", []string{"-O", "^has_journal,^resize_inode"}, 0},
	{"4k-noflex", "16G", []string{"-O", "^has_journal,^flex_bg"}, 0},
	{"4k-uninit_bg", "16G", []string{"-O", "^has_journal,^metadata_csum,uninit_bg"}, 0},
	{"4k-sparse_super2", "16G", []string{"-O", "^has_journal,sparse_super2"}, 0},
	{"1k-noflex-32bit", "8G", []string{"-b", "1024", "-O", "^has_journal,^flex_bg,^64bit"}, 0},
	{"1k", "8G", []string{"-b", "1024", "-O", "^has_journal"}, 0},
	{"ext2", "8G", []string{"-t", "ext2"}, 0},
	{"journal", "16G", nil, 0},
	// Small groups, so that several are kept: backups, a flex group cut
	// in its middle, descriptor blocks dropped.
	{"4k-g2048", "4G", []string{"-g", "2048", "-O", "^has_journal"}, 0},
	{"4k-g2048-G4", "4G", []string{"-g", "2048", "-G", "4", "-O", "^has_journal"}, 0},
	{"4k-g1024-noresize-32bit", "4G", []string{"-g", "1024", "-O", "^has_journal,^resize_inode,^64bit"}, 0},
	{"4k-g2048-noflex-uninit_bg", "4G", []string{"-g", "2048", "-O", "^has_journal,^flex_bg,^metadata_csum,uninit_bg"}, 0},
	{"1k-g1024-sparse_super2", "2G", []string{"-b", "1024", "-g", "1024", "-O", "^has_journal,sparse_super2"}, 0},
	{"1k-g1024-G64-sparse_super2", "2G", []string{"-b", "1024", "-g", "1024", "-G", "64", "-O", "^has_journal,sparse_super2"}, 0},
	// The end two groups past the data: the last group's start is free,
	// and the second backup moves there.
	{"1k-g1024-G64-sparse_super2-move", "2G", []string{"-b", "1024", "-g", "1024", "-G", "64", "-O", "^has_journal,sparse_super2"}, 8000},
	// bigalloc: bitmaps of clusters; with small groups several are kept,
	// the flex group's bitmaps share clusters with cut groups'; with
	// 1 KiB blocks block 0 is group 0's (s_first_data_block 0).
	{"4k-bigalloc", "64G", []string{"-O", "^has_journal,bigalloc"}, 0},
	{"4k-bigalloc-C16k-g16384", "4G", []string{"-O", "^has_journal,bigalloc", "-C", "16384", "-g", "16384"}, 0},
	{"4k-bigalloc-C16k-g2048-noresize", "2G", []string{"-O", "^has_journal,bigalloc,^resize_inode", "-C", "16384", "-g", "2048"}, 0},
	{"1k-bigalloc-C16k", "4G", []string{"-b", "1024", "-O", "^has_journal,bigalloc", "-C", "16384"}, 0},
	{"4k-g1024-meta_bg", "4G", []string{"-g", "1024", "-O", "^has_journal,^resize_inode,meta_bg"}, 0},
	{"1k-g256-meta_bg-32bit", "1G", []string{"-b", "1024", "-g", "256", "-O", "^has_journal,^resize_inode,meta_bg,^64bit"}, 0},
	{"64k", "16G", []string{"-b", "65536", "-O", "^has_journal"}, 0},
	{"2k-g4096-ext2", "2G", []string{"-t", "ext2", "-b", "2048", "-g", "4096"}, 0},
}

// minimizeFile runs Minimize on the image file img.
func minimizeFile(t *testing.T, img string, free uint64) uint64 {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := e2fsprogs.Minimize(f, free)
	if err != nil {
		t.Fatalf("Minimize: %v", err)
	}
	return n
}

// copyImage copies an image file, keeping it sparse.
func copyImage(t *testing.T, img string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "copy")
	testutil.Run(t, "cp", "--sparse=always", img, out)
	return out
}

// TestMinimize fills each layout with alloc=pack, minimizes it, and
// checks the result with e2fsck, against resize2fs shrinking a copy to
// the same size, and by mounting it in the host kernel and writing.
func TestMinimize(t *testing.T) {
	for _, tc := range minimizeCases {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, tc.size, tc.args...)
			kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) { writeMix(k, must) })
			before := readDump(t, img)
			ref := copyImage(t, img)
			before0 := copyImage(t, img)
			free := tc.free
			if free == 0 {
				free = 1000
			}
			n := minimizeFile(t, img, free)
			testutil.E2fsckClean(t, img)
			after := readDump(t, img)
			bs := after.num(t, "Block size")
			if got := after.num(t, "Block count"); got != n || n >= before.num(t, "Block count") {
				t.Fatalf("Minimize returned %d; block count %d, was %d", n, got, before.num(t, "Block count"))
			}
			ub, ua := before.usage(t), after.usage(t)
			// Moved blocks may split extents and grow trees by a few
			// blocks, or join them and shrink trees.
			if d := int64(ua.dataBlocks) - int64(ub.dataBlocks); max(d, -d) > int64(ub.dataBlocks/100+4) || ua.highInode != ub.highInode {
				t.Errorf("data before %+v, after %+v", ub, ua)
			}
			if fb := after.num(t, "Free blocks"); fb < free {
				t.Errorf("%d free blocks, asked for %d more", fb, free)
			}
			// The end is no further than the data, the free blocks asked
			// for, the last group's minimum and the metadata between.
			bpg := after.num(t, "Blocks per group")
			if n > ua.highBlock+free+bpg/2+1 {
				t.Errorf("end %d, last data block %d: not minimal", n, ua.highBlock)
			}
			t.Logf("%d blocks (%d groups) -> %d (%d groups, %s free); last data block %d",
				before.num(t, "Block count"), len(before.groups), n, len(after.groups), after.head["Free blocks"], ua.highBlock)

			// resize2fs to the same size on the copy: the geometry and the
			// counts must agree.
			testutil.Need(t, "resize2fs")
			if out, err := exec.Command("resize2fs", "-f", ref, strconv.FormatUint(n, 10)).CombinedOutput(); err != nil {
				// Minimize moved blocks into room resize2fs does not
				// find (its minimum is larger): then only the size is
				// compared, with resize2fs -M on a fresh copy.
				if !bytes.Contains(out, []byte("No space left")) {
					t.Fatalf("resize2fs: %v\n%s", err, out)
				}
				ref = copyImage(t, before0)
				if out, err := exec.Command("resize2fs", "-f", "-M", ref).CombinedOutput(); err != nil {
					t.Fatalf("resize2fs -M: %v\n%s", err, out)
				}
				if m := readDump(t, ref).num(t, "Block count"); n > m {
					t.Errorf("%d blocks, resize2fs -M %d", n, m)
				}
				return
			}
			want := readDump(t, ref)
			if ur := want.usage(t); ur.dataBlocks != ua.dataBlocks {
				// Both moved blocks, and rebuilt extent trees of
				// different sizes: the free counts differ by as much.
				t.Logf("data blocks %d, resize2fs %d", ua.dataBlocks, ur.dataBlocks)
				want.head["Free blocks"] = strconv.FormatUint(want.num(t, "Free blocks")+ur.dataBlocks-ua.dataBlocks, 10)
			}
			for _, k := range []string{"Block count", "Inode count", "Reserved block count", "Free blocks",
				"Free inodes", "Reserved GDT blocks", "Overhead clusters", "Backup block groups"} {
				if k == "Free blocks" && after.head["Backup block groups"] != want.head["Backup block groups"] {
					// resize2fs moves the last group's bitmaps to put the
					// sparse_super2 backup there; Minimize moves nothing
					// and drops that backup when its place is taken.
					t.Logf("backup groups %q, resize2fs %q", after.head["Backup block groups"], want.head["Backup block groups"])
					continue
				}
				if k == "Backup block groups" {
					continue
				}
				if k == "Free blocks" && after.head["Cluster size"] != "" {
					// resize2fs 1.47.0 shrinking a bigalloc filesystem
					// leaves a free count larger than the filesystem
					// (510144 free of 44864 blocks), which its own
					// e2fsck -fn then finds wrong: e2fsck above is the
					// oracle for the counts.
					if out, err := exec.Command("e2fsck", "-fn", ref).CombinedOutput(); err == nil {
						t.Errorf("resize2fs's bigalloc image checks clean: compare the free counts again\n%s", out)
					}
					continue
				}
				if after.head[k] != want.head[k] {
					t.Errorf("%s: %q, resize2fs %q", k, after.head[k], want.head[k])
				}
			}
			if len(after.groups) != len(want.groups) {
				t.Errorf("%d groups, resize2fs %d", len(after.groups), len(want.groups))
			}

			// The file cut to the new size still checks, and the host
			// kernel writes to it.
			if err := os.Truncate(img, int64(n*bs)); err != nil {
				t.Fatal(err)
			}
			testutil.E2fsckClean(t, img)
			if bs > uint64(os.Getpagesize()) {
				return // the host kernel mounts no block larger than a page
			}
			hostWrite(t, img)
			testutil.E2fsckClean(t, img)
		})
	}
}

// hostWrite mounts img in the host kernel, fills most of the free space
// with a file and removes another, and unmounts (skipped without loop
// devices).
func hostWrite(t *testing.T, img string) {
	t.Helper()
	mnt, umount := testutil.HostMount(t, img, "rw")
	defer umount()
	if err := os.WriteFile(filepath.Join(mnt, "host-file"), bytes.Repeat([]byte("h"), 256<<10), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.RemoveAll(filepath.Join(mnt, "top1")); err != nil {
		t.Error(err)
	}
}

// TestMinimizeRefuses: a filesystem that is not clean, or of a layout
// Minimize does not handle, is refused with the errno that says so and
// left unchanged; a minimized one is not shrunk further.
func TestMinimizeRefuses(t *testing.T) {
	sum := func(img string) string { return sparseSum(t, img) }
	for _, tc := range []struct {
		name  string
		args  []string
		debug string // a debugfs -w request that makes it unclean
		want  error
	}{
		{"not-clean", []string{"-O", "^has_journal"}, "ssv state 0", abi.EUCLEAN},
		{"errors", []string{"-O", "^has_journal"}, "ssv state 3", abi.EUCLEAN},
		{"needs_recovery", nil, "feature needs_recovery", abi.EUCLEAN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "1G", tc.args...)
			if tc.debug != "" {
				testutil.Run(t, "debugfs", "-w", "-R", tc.debug, img)
			}
			before := sum(img)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := e2fsprogs.Minimize(f, 0); !errors.Is(err, tc.want) {
				t.Errorf("Minimize: %v, want %v", err, tc.want)
			}
			if sum(img) != before {
				t.Errorf("the image changed")
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		img := testutil.Mke2fsImage(t, "4G", "-g", "2048", "-O", "^has_journal")
		kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) { writeMix(k, must) })
		n := minimizeFile(t, img, 0)
		before := sum(img)
		if m := minimizeFile(t, img, 0); m != n || sum(img) != before {
			t.Errorf("second Minimize: %d (first %d), image changed %v", m, n, sum(img) != before)
		}
		testutil.E2fsckClean(t, img)
	})
}

// sparseSum hashes the contents of a sparse file: each 4 KiB chunk that
// is not all zero, with its offset, found by SEEK_DATA and SEEK_HOLE
// (reading the holes of a large image would take long). Where the file
// has holes and where allocated zeros does not count.
func sparseSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	fd := int(f.Fd())
	chunk := make([]byte, 4096)
	zero := make([]byte, 4096)
	for off := int64(0); ; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			break // ENXIO: no data after off
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		for o := start &^ 4095; o < end; o += 4096 {
			clear(chunk)
			n, err := f.ReadAt(chunk, o)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(chunk[:n], zero[:n]) {
				fmt.Fprintf(h, "%d:", o)
				h.Write(chunk[:n])
			}
		}
		off = end
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// addJournalFile runs AddJournal on the image file img.
func addJournalFile(t *testing.T, img string, blocks uint32) error {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return e2fsprogs.AddJournal(f, blocks)
}

// TestAddJournal adds journals to filesystems made without one and
// compares with tune2fs -J on a copy: the journal's fields and the
// counts must agree (the journal's place differs: tune2fs puts it in the
// middle group, AddJournal in the first free run). Then the host kernel
// and the driver must both mount and write through it, e2fsck clean
// after each.
func TestAddJournal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   string
		args   []string
		blocks uint32 // 0: the default
	}{
		{"4k-default", "2G", []string{"-O", "^has_journal"}, 0},
		{"4k-leaf", "4G", []string{"-O", "^has_journal"}, 5 * 32768}, // five extents: a leaf block
		{"4k-32bit-uninit_bg", "1G", []string{"-O", "^has_journal,^64bit,^metadata_csum,uninit_bg"}, 0},
		{"1k", "256M", []string{"-b", "1024", "-O", "^has_journal"}, 0},
		{"1k-meta_bg", "256M", []string{"-b", "1024", "-g", "1024", "-O", "^has_journal,^resize_inode,meta_bg"}, 0},
		{"1k-noflex-fragmented", "256M", []string{"-b", "1024", "-O", "^has_journal,^flex_bg"}, 40 * 1024},
		{"ext2-blockmap", "256M", []string{"-t", "ext2", "-b", "1024"}, 8192},
		{"ext2-tind", "256M", []string{"-t", "ext2", "-b", "1024"}, 70 * 1024}, // past the double indirect block
		// bigalloc: whole clusters, the leaf a cluster of its own.
		{"4k-bigalloc", "2G", []string{"-O", "^has_journal,bigalloc"}, 0},
		{"4k-bigalloc-C16k-leaf", "4G", []string{"-O", "^has_journal,bigalloc", "-C", "16384"}, 5 * 32768},
		{"1k-bigalloc-C16k", "256M", []string{"-b", "1024", "-O", "^has_journal,bigalloc", "-C", "16384"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.Need(t, "tune2fs")
			img := testutil.Mke2fsImage(t, tc.size, tc.args...)
			kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) { writeMix(k, must) })
			ref := copyImage(t, img)
			if err := addJournalFile(t, img, tc.blocks); err != nil {
				t.Fatalf("AddJournal: %v", err)
			}
			testutil.E2fsckClean(t, img)
			if err := addJournalFile(t, img, tc.blocks); !errors.Is(err, abi.EEXIST) {
				t.Errorf("second AddJournal: %v, want EEXIST", err)
			}
			bs := readDump(t, img).num(t, "Block size")
			blocks := uint64(tc.blocks)
			if blocks == 0 {
				blocks = uint64(e2fsprogs.DefaultJournalBlocks(readDump(t, img).num(t, "Block count")))
			}
			testutil.Run(t, "tune2fs", "-J", fmt.Sprintf("size=%d", blocks*bs>>20), ref)
			got, want := readDump(t, img), readDump(t, ref)
			for _, k := range []string{"Filesystem features", "Journal inode", "Journal backup", "Journal features",
				"Total journal size", "Total journal blocks", "Max transaction length", "Fast commit length",
				"Journal sequence", "Journal start", "Free blocks", "Free inodes"} {
				if got.head[k] != want.head[k] {
					t.Errorf("%s: %q, tune2fs %q", k, got.head[k], want.head[k])
				}
			}
			stat := func(img string) string {
				out := testutil.Run(t, "debugfs", "-R", "stat <8>", img)
				var keep []string
				for _, l := range strings.Split(string(out), "\n") {
					if strings.Contains(l, "Type:") || strings.Contains(l, "Links:") || strings.Contains(l, "Size:") {
						keep = append(keep, l)
					}
				}
				return strings.Join(keep, "\n")
			}
			if a, b := stat(img), stat(ref); a != b {
				t.Errorf("inode 8:\n%s\ntune2fs:\n%s", a, b)
			}

			// The host kernel mounts it, sets the journal's features and
			// writes through it; so does the driver.
			hostWrite(t, img)
			testutil.E2fsckClean(t, img)
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/ours", abi.O_CREAT|abi.O_WRONLY, 0o644)
				must("create", err)
				_, err = k.Write(fd, bytes.Repeat([]byte("o"), 100000))
				must("write", err)
				must("close", k.Close(fd))
				must("rmdir", k.Unlinkat(abi.AT_FDCWD, "/mnt/top2/sub", abi.AT_REMOVEDIR))
			})
			testutil.E2fsckClean(t, img)
		})
	}
}

// TestMinimizeEndToEnd is what lklimg tar2fs does: a 64 GiB sparse
// filesystem made without a journal, filled through the kernel with
// alloc=pack (hostcopy.To of testutil.MakeTree's tree), minimized with
// free blocks for the journal and some more, given its journal, and the
// file cut to the new size. e2fsck must be clean, the host kernel must
// show the same tree as the source, and the file must be small.
func TestMinimizeEndToEnd(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck", "dumpe2fs")
	src, want := testutil.NewTree(t)
	img := testutil.Mke2fsImage(t, "64G", "-O", "^has_journal")
	kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) {
		var errs []string
		opts := hostcopy.Options{Owners: os.Geteuid() == 0, Report: func(err error) { errs = append(errs, err.Error()) }}
		if err := hostcopy.To(k, "/mnt", []string{src + "/."}, "/", opts); err != nil || len(errs) > 0 {
			t.Fatalf("hostcopy.To: %v %q", err, errs)
		}
	})
	testutil.E2fsckClean(t, img)
	twin := copyImage(t, img)
	// Room for the journal (at most 4096 blocks below 1 GiB) and more.
	const free = 8192
	n := minimizeFile(t, img, free)
	testutil.E2fsckClean(t, img)
	if err := addJournalFile(t, img, 0); err != nil {
		t.Fatalf("AddJournal: %v", err)
	}
	// The same image in, the same image out.
	if m := minimizeFile(t, twin, free); m != n || addJournalFile(t, twin, 0) != nil || sparseSum(t, twin) != sparseSum(t, img) {
		t.Errorf("Minimize and AddJournal on a copy: %d blocks (first %d), or another image", m, n)
	}
	d := readDump(t, img)
	bs := d.num(t, "Block size")
	if err := os.Truncate(img, int64(n*bs)); err != nil {
		t.Fatal(err)
	}
	testutil.E2fsckClean(t, img)
	d = readDump(t, img)
	used, left := d.num(t, "Block count")-d.num(t, "Free blocks"), d.num(t, "Free blocks")
	journal := uint64(e2fsprogs.DefaultJournalBlocks(n))
	t.Logf("%d blocks (file %d MiB): %d used (data, metadata and a %d-block journal), %d free",
		n, n*bs>>20, used, journal, left)
	// Small: the blocks in use and the free ones asked for, but for the
	// journal taken from them and at most the last group's minimum
	// (its overhead + 50 blocks) more.
	if left+journal < free || left+journal > free+1024 {
		t.Errorf("%d free blocks and a %d-block journal, asked for %d free", left, journal, free)
	}

	mnt, umount := testutil.HostMount(t, img, "ro")
	got, err := testutil.ScanDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 100 || len(got) < len(want) {
		t.Errorf("the image shows %d entries, the source %d", len(got), len(want))
	}
	var o testutil.CompareOptions
	o.SkipPaths = []string{"lost+found"}
	o.HoleUnit = int64(bs)
	if os.Geteuid() != 0 {
		o.Ignore = []string{"uid", "gid"}
	}
	for i, diff := range testutil.Compare(want, got, o) {
		if i == 30 {
			t.Error("...")
			break
		}
		t.Errorf("source vs image: %s", diff)
	}
	umount()
	hostWrite(t, img)
	testutil.E2fsckClean(t, img)
}

// TestAddJournalReplay writes a transaction into the journal AddJournal
// made (debugfs's journal writer, as a crash would leave it: needs_recovery
// set) that overwrites a file's block; the driver's read-only mount must
// show the replayed block, and the host kernel must replay it onto the
// disk, leaving e2fsck clean.
func TestAddJournalReplay(t *testing.T) {
	img := testutil.Mke2fsImage(t, "1G", "-O", "^has_journal")
	old := bytes.Repeat([]byte("a"), 4096)
	kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/f", abi.O_CREAT|abi.O_WRONLY, 0o644)
		must("create", err)
		_, err = k.Write(fd, old)
		must("write", err)
		must("close", k.Close(fd))
	})
	if err := addJournalFile(t, img, 0); err != nil {
		t.Fatalf("AddJournal: %v", err)
	}
	testutil.E2fsckClean(t, img)
	out, err := exec.Command("debugfs", "-R", "bmap /f 0", img).Output()
	if err != nil {
		t.Fatalf("debugfs bmap: %v", err)
	}
	blk := strings.TrimSpace(string(out))
	dir := t.TempDir()
	data := bytes.Repeat([]byte("J"), 4096)
	if err := os.WriteFile(filepath.Join(dir, "blk"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := filepath.Join(dir, "cmds")
	if err := os.WriteFile(cmds, []byte("jo\njw -b "+blk+" "+filepath.Join(dir, "blk")+"\njc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "debugfs", "-w", "-f", cmds, img)
	if h := readDump(t, img).head["Filesystem features"]; !strings.Contains(h, "needs_recovery") {
		t.Fatalf("debugfs left no transaction to replay: %s", h)
	}
	read := func(k *kernel.Kernel, must func(string, error)) []byte {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/f", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		b := make([]byte, 8192)
		n, err := k.Read(fd, b)
		must("read", err)
		return b[:n]
	}
	kerneltest.WithKernelFlags(t, img, abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		if got := read(k, must); !bytes.Equal(got, data) {
			t.Errorf("driver, read-only: /f holds %.16q..., want the journal's block", got)
		}
	})
	mnt, umount := testutil.HostMount(t, img, "rw")
	got, err := os.ReadFile(filepath.Join(mnt, "f"))
	umount()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("host: /f holds %.16q... (%v), want the journal's block", got, err)
	}
	testutil.E2fsckClean(t, img)
}

// punchFile is an image file whose ZeroUnmap punches holes, as
// devfile.File's FALLOC_FL_WRITE_ZEROES does on a raw image.
type punchFile struct {
	*os.File
	punched int64
}

func (p *punchFile) ZeroUnmap(off, n int64) error {
	p.punched += n
	return unix.Fallocate(int(p.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// TestAddJournalZeroes: the journal's blocks read as zeros whatever the
// free blocks held, deallocated where the device can (ZeroUnmap: holes
// in a raw image, nothing read), written otherwise.
func TestAddJournalZeroes(t *testing.T) {
	for _, punch := range []bool{false, true} {
		t.Run(fmt.Sprint("punch=", punch), func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "64M", "-O", "^has_journal")
			// Junk in every free block: a file filling the space,
			// then removed.
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/fill", abi.O_CREAT|abi.O_WRONLY, 0o644)
				must("create", err)
				junk := bytes.Repeat([]byte{0x5A}, 1<<20)
				for {
					if _, err := k.Write(fd, junk); err != nil {
						break
					}
				}
				must("close", k.Close(fd))
				must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/fill", 0))
			})
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var dev e2fsprogs.ImageDevice = f
			p := &punchFile{File: f}
			if punch {
				dev = p
			}
			err = e2fsprogs.AddJournal(dev, 1024)
			f.Close()
			if err != nil {
				t.Fatalf("AddJournal: %v", err)
			}
			testutil.E2fsckClean(t, img)
			if punch && p.punched < 1023*1024 {
				t.Errorf("ZeroUnmap of %d bytes, want the journal's 1023 blocks after its superblock", p.punched)
			}
			data, err := exec.Command("debugfs", "-R", "cat <8>", img).Output() // the banner is on stderr
			if err != nil {
				t.Fatalf("debugfs cat <8>: %v", err)
			}
			bs := int(readDump(t, img).num(t, "Block size"))
			if len(data) != 1024*bs {
				t.Fatalf("journal of %d bytes, want %d", len(data), 1024*bs)
			}
			if i := bytes.IndexFunc(data[bs:], func(r rune) bool { return r != 0 }); i >= 0 {
				t.Errorf("journal byte %d is %#x, want zeros past its superblock", bs+i, data[bs+i])
			}
		})
	}
}
