package ext4

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// writeLayouts are the filesystems the write tests run on: mkfs.ext4
// options for each.
var writeLayouts = []struct {
	name string
	args []string
}{
	{"ext4", []string{"-b", "4096"}},
	{"nocsum", []string{"-b", "4096", "-O", "^metadata_csum"}},
	{"ext2", []string{"-b", "4096", "-t", "ext2"}},
	{"ext3", []string{"-b", "4096", "-t", "ext3"}},
	{"1k", []string{"-b", "1024"}},
	{"ext2-1k", []string{"-t", "ext2", "-b", "1024"}},
	{"noflex", []string{"-b", "4096", "-O", "^flex_bg"}},
	{"no64", []string{"-b", "4096", "-O", "^64bit,^metadata_csum,uninit_bg"}},
	{"smallgroups", []string{"-b", "4096", "-g", "1024"}},
	{"metabg", []string{"-b", "1024", "-O", "meta_bg,^resize_inode"}},
	{"bigalloc", []string{"-b", "4096", "-O", "bigalloc", "-C", "16384"}},
	{"bigalloc-1k", []string{"-b", "1024", "-O", "bigalloc,^flex_bg,^metadata_csum", "-C", "8192"}},
}

var testCtx = vfs.Ctx{Uid: 0, Gid: 0, Now: abi.Timespec{Sec: 1700000000, Nsec: 123456789}}

// makeWriteImage builds an image of mib MiB with mkfs.ext4 -d from a tree
// holding the given files, filled with random bytes first so that no
// field the writer forgets can pass by luck (and allocated whole, which
// keeps the host's unlink of the image fast after scattered writes).
func makeWriteImage(t *testing.T, args []string, mib int, files map[string][]byte) string {
	t.Helper()
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "x.img")
	junk := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(junk)
	fh, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < mib; i++ {
		fh.Write(junk)
	}
	fh.Close()
	all := append([]string{"-q", "-F", "-E", "lazy_itable_init=1,nodiscard", "-d", src}, args...)
	if out, err := exec.Command("mkfs.ext4", append(all, img)...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	return img
}

// fileModel is what a file must hold.
type fileModel struct{ data []byte }

func (m *fileModel) grow(n int64) {
	if n > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, n-int64(len(m.data)))...)
	}
}

func (m *fileModel) write(p []byte, off int64) {
	m.grow(off + int64(len(p)))
	copy(m.data[off:], p)
}

func (m *fileModel) truncate(n int64) {
	if n < int64(len(m.data)) {
		m.data = m.data[:n]
	}
	m.grow(n)
}

func (m *fileModel) zero(off, n int64) {
	end := min(off+n, int64(len(m.data)))
	if off < end {
		clear(m.data[off:end])
	}
}

// rwFile looks name up in the root of a read-write mount.
func rwFile(t *testing.T, f *fsys, name string) fileInode {
	t.Helper()
	ino, err := lookupPath(f, name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	fi, ok := ino.(fileInode)
	if !ok {
		t.Fatalf("%s: %T, not a regular file", name, ino)
	}
	return fi
}

// checkContent compares a file read through the driver with the model.
func checkContent(t *testing.T, ino vfs.Inode, m *fileModel, when string) {
	t.Helper()
	got, err := readAll(ino, 1<<20+7)
	if err != nil {
		t.Fatalf("%s: read: %v", when, err)
	}
	if !bytes.Equal(got, m.data) {
		i := 0
		for i < len(got) && i < len(m.data) && got[i] == m.data[i] {
			i++
		}
		t.Fatalf("%s: content differs at byte %d (size %d, want %d)", when, i, len(got), len(m.data))
	}
}

// umountAndCheck unmounts a read-write mount, runs e2fsck -fn on the
// image, mounts it read-only and compares file name with the model.
func umountAndCheck(t *testing.T, f *fsys, img, name string, m *fileModel) vfs.Inode {
	t.Helper()
	umountRW(t, f)
	e2fsckClean(t, img)
	sb, _ := mountImage(t, img)
	ino, err := lookupPath(sb, name)
	if err != nil {
		t.Fatal(err)
	}
	checkContent(t, ino, m, "after remount")
	return ino
}

// TestWriteFile writes, extends, punches, preallocates and truncates a
// file on every layout, checking the content through the driver before
// and after a remount, e2fsck -fn, and (with loop devices) what the host
// kernel reads and counts in st_blocks.
func TestWriteFile(t *testing.T) {
	for _, lay := range writeLayouts {
		t.Run(lay.name, func(t *testing.T) {
			rnd := rand.New(rand.NewSource(42))
			buf := func(n int) []byte { b := make([]byte, n); rnd.Read(b); return b }
			initial := buf(100000)
			img := makeWriteImage(t, lay.args, 32, map[string][]byte{"a": initial})
			m := &fileModel{data: append([]byte(nil), initial...)}

			f, _ := mountImageRW(t, img)
			fi := rwFile(t, f, "a")
			bs := int64(f.BlockSize)
			extents := fi.flags&disk.InodeExtentsFl != 0
			write := func(p []byte, off int64) {
				t.Helper()
				n, err := fi.WriteAt(testCtx, p, off)
				if err != nil || n != len(p) {
					t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
				}
				m.write(p, off)
			}
			setSize := func(n int64) {
				t.Helper()
				if err := fi.Setattr(testCtx, vfs.SetAttr{Valid: vfs.SetSize, Size: n}); err != nil {
					t.Fatalf("truncate to %d: %v", n, err)
				}
				m.truncate(n)
			}
			falloc := func(mode uint32, off, n int64) {
				t.Helper()
				if err := fi.Fallocate(testCtx, mode, off, n); err != nil {
					t.Fatalf("fallocate(%#x, %d, %d): %v", mode, off, n, err)
				}
			}

			write(buf(5000), 3000)                    // overwrite inside
			write(buf(10000), int64(len(m.data))-100) // extend
			write(buf(10), int64(len(m.data))+50)     // past EOF inside the last block
			write(buf(3*int(bs)+5), 300000)           // past EOF across blocks
			base := int64(8 << 20)
			// Every other block: more extents than a depth-1 tree holds
			// on two layouts, more than one leaf holds on the others.
			nfrag := 4*int((bs-12)/12) + 50
			deep := extents && (lay.name == "ext4" || lay.name == "1k")
			if !deep {
				nfrag = 400
			}
			for i := 0; i < nfrag; i++ {
				write(buf(int(bs)), base+2*int64(i)*bs)
			}
			if deep {
				if d := le.Uint16(fi.iBlock[6:]); d < 2 {
					t.Errorf("extent tree depth %d after %d fragments, want 2 or more", d, nfrag)
				}
			}
			far := int64(70<<20) + 123 // triple indirect with 1 KiB blocks
			write(buf(7000), far)
			checkContent(t, fi, m, "after writes")

			setSize(far + 1000) // truncate down inside a block
			falloc(abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, base+3*bs+100, 5*bs)
			m.zero(base+3*bs+100, 5*bs)
			falloc(abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 1000, 20) // inside one block
			m.zero(1000, 20)
			falloc(abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 40000, 3*bs) // splits an extent
			m.zero(40000, 3*bs)
			if extents {
				falloc(abi.FALLOC_FL_KEEP_SIZE, int64(len(m.data)), 10*bs) // past EOF
				falloc(0, 20<<20, 3*bs+5)                                  // in a hole
				write(buf(100), 20<<20+bs+7)                               // into unwritten blocks
				falloc(abi.FALLOC_FL_ZERO_RANGE, base+100, 3*bs)
				m.zero(base+100, 3*bs)
				falloc(abi.FALLOC_FL_ZERO_RANGE, 3000, 10) // written, partial
				m.zero(3000, 10)
				falloc(0, int64(len(m.data))+bs, 2*bs) // mode 0 extends
				m.grow(int64(len(m.data)) + 3*bs)
			} else if err := fi.Fallocate(testCtx, 0, 0, bs); !errors.Is(err, abi.EOPNOTSUPP) {
				t.Errorf("fallocate on a block-mapped file: %v, want EOPNOTSUPP", err)
			}
			setSize(int64(len(m.data)) + 5*bs + 3) // truncate up: a hole
			checkContent(t, fi, m, "before unmount")
			ino := umountAndCheck(t, f, img, "a", m)
			attr, _ := ino.Getattr()
			if attr.Size != int64(len(m.data)) {
				t.Errorf("size %d, want %d", attr.Size, len(m.data))
			}
			checkHost(t, img, "a", m, attr.Blocks, []int64{base + 9*bs, base + 11*bs})
		})
	}
}

// TestWriteENOSPC fills small images: the write stops with ENOSPC and the
// bytes written, which read back, and the image is clean.
func TestWriteENOSPC(t *testing.T) {
	for _, lay := range writeLayouts {
		t.Run(lay.name, func(t *testing.T) {
			img := makeWriteImage(t, lay.args, 12, map[string][]byte{"a": []byte("x")})
			f, _ := mountImageRW(t, img)
			fi := rwFile(t, f, "a")
			m := &fileModel{data: []byte("x")}
			rnd := rand.New(rand.NewSource(7))
			chunk := make([]byte, 200000)
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				rnd.Read(chunk)
				off := int64(len(m.data))
				var n int
				n, err = fi.WriteAt(testCtx, chunk, off)
				m.write(chunk[:n], off)
				if err == nil && n != len(chunk) {
					t.Fatalf("short write %d without error", n)
				}
			}
			if !errors.Is(err, abi.ENOSPC) {
				t.Fatalf("filling the disk: %v, want ENOSPC", err)
			}
			st, _ := f.Statfs()
			if st.Bavail != 0 {
				t.Errorf("ENOSPC with %d blocks available", st.Bavail)
			}
			checkContent(t, fi, m, "full")
			// Freeing makes room again.
			if err := fi.Setattr(testCtx, vfs.SetAttr{Valid: vfs.SetSize, Size: 1000}); err != nil {
				t.Fatal(err)
			}
			m.truncate(1000)
			// The freed blocks are free once the transaction commits:
			// the write commits and retries (no Sync here).
			if n, err := fi.WriteAt(testCtx, chunk, 1000); err != nil || n != len(chunk) {
				t.Fatalf("write after truncate: %d, %v", n, err)
			}
			m.write(chunk, 1000)
			umountAndCheck(t, f, img, "a", m)
		})
	}
}

// TestNewDeleteInode allocates inodes (a file with blocks, a directory)
// and deletes them: the free counts come back and the image is clean.
func TestNewDeleteInode(t *testing.T) {
	for _, lay := range writeLayouts {
		t.Run(lay.name, func(t *testing.T) {
			img := makeWriteImage(t, lay.args, 16, map[string][]byte{"a": []byte("hello")})
			f, _ := mountImageRW(t, img)
			before, _ := f.Statfs()
			root, err := f.iget(disk.RootIno)
			if err != nil {
				t.Fatal(err)
			}
			h, err := f.begin()
			if err != nil {
				t.Fatal(err)
			}
			file, err := h.newInode(root, vfs.Ctx{Uid: 1000, Gid: 100, Now: testCtx.Now}, abi.S_IFREG|0o640)
			if err != nil {
				t.Fatal(err)
			}
			dir, err := h.newInode(root, testCtx, abi.S_IFDIR|0o755)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			if file.ino < f.Super.SFirstIno || dir.ino < f.Super.SFirstIno || file.ino == dir.ino {
				t.Fatalf("new inodes %d, %d (first ino %d)", file.ino, dir.ino, f.Super.SFirstIno)
			}
			// The inode table holds what newInode made (checksum included).
			got, err := f.readInode(file.ino)
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if got.mode != abi.S_IFREG|0o640 || got.uid != 1000 || got.gid != 100 || got.links != 1 ||
				got.mtime != testCtx.Now || got.generation != file.generation {
				t.Errorf("read back %+v", got)
			}
			if f.Super.HasIncompat(disk.IncompatExtents) != (got.flags&disk.InodeExtentsFl != 0) {
				t.Errorf("flags %#x", got.flags)
			}
			if f.InodeSize > 128 && (!got.hasCrtime || got.crtime != testCtx.Now) {
				t.Errorf("crtime %v %v", got.hasCrtime, got.crtime)
			}
			data := make([]byte, 70000)
			if n, err := (fileInode{file}).WriteAt(testCtx, data, 5000); err != nil || n != len(data) {
				t.Fatalf("write: %d, %v", n, err)
			}
			// A block far out (triple indirect with 1 KiB blocks), and
			// fragments enough for a tree of depth 2 (or double indirect
			// blocks), all freed by the delete.
			if _, err := (fileInode{file}).WriteAt(testCtx, data[:10], 70<<20); err != nil {
				t.Fatal(err)
			}
			bs := int64(f.BlockSize)
			for i := int64(0); i < 4*(bs-12)/12+50; i++ {
				if _, err := (fileInode{file}).WriteAt(testCtx, data[:10], (1<<20)+2*i*bs); err != nil {
					t.Fatal(err)
				}
			}
			mid, _ := f.Statfs()
			if mid.Bfree >= before.Bfree || mid.Ffree != before.Ffree-2 {
				t.Errorf("after allocation: bfree %d ffree %d, before %d %d", mid.Bfree, mid.Ffree, before.Bfree, before.Ffree)
			}
			h, _ = f.begin()
			err1 := h.deleteInode(file)
			err2 := h.deleteInode(dir)
			if err := h.stop(); err != nil || err1 != nil || err2 != nil {
				t.Fatal(err, err1, err2)
			}
			after, _ := f.Statfs()
			if after.Bfree != before.Bfree || after.Ffree != before.Ffree {
				t.Errorf("after delete: bfree %d ffree %d, want %d %d", after.Bfree, after.Ffree, before.Bfree, before.Ffree)
			}
			// More inodes than a group holds, files and directories: the
			// next groups' INODE_UNINIT bitmaps come into use, and a
			// full filesystem says ENOSPC.
			var made []*inode
			h, _ = f.begin()
			for i := uint32(0); i < f.Super.SInodesPerGroup+5; i++ {
				mode := uint32(abi.S_IFREG | 0o644)
				if i%3 == 0 {
					mode = abi.S_IFDIR | 0o755
				}
				ip, err := h.newInode(root, testCtx, mode)
				if err != nil {
					if uint64(len(made)) != before.Ffree || !errors.Is(err, abi.ENOSPC) {
						t.Fatalf("inode %d of %d free: %v", len(made), before.Ffree, err)
					}
					h.err = nil
					break
				}
				made = append(made, ip)
			}
			for _, ip := range made {
				if err := h.deleteInode(ip); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			after, _ = f.Statfs()
			if after.Ffree != before.Ffree {
				t.Errorf("after deleting %d inodes: ffree %d, want %d", len(made), after.Ffree, before.Ffree)
			}
			umountRW(t, f)
			e2fsckClean(t, img)
		})
	}
}

// TestSetattr changes mode, owner and times (nanoseconds, before 1970,
// after 2038) and checks them as the host kernel sees them.
func TestSetattr(t *testing.T) {
	img := makeWriteImage(t, []string{"-b", "4096"}, 16, map[string][]byte{"a": []byte("hello")})
	f, _ := mountImageRW(t, img)
	fi := rwFile(t, f, "a")
	a := vfs.SetAttr{
		Valid: vfs.SetMode | vfs.SetUid | vfs.SetGid | vfs.SetAtime | vfs.SetMtime | vfs.SetCtime,
		Mode:  0o4750, Uid: 70000, Gid: 80000,
		Atime: abi.Timespec{Sec: 1<<33 + 5, Nsec: 999999999},
		Mtime: abi.Timespec{Sec: -5, Nsec: 7},
		Ctime: abi.Timespec{Sec: 1<<31 + 1, Nsec: 1},
	}
	if err := fi.Setattr(testCtx, a); err != nil {
		t.Fatal(err)
	}
	// Every inode type takes Setattr.
	var _ vfs.Setattrer = dirInode{}
	var _ vfs.Setattrer = symlinkInode{}
	var _ vfs.Setattrer = specialInode{}
	umountRW(t, f)
	e2fsckClean(t, img)
	sb, _ := mountImage(t, img)
	ino, _ := lookupPath(sb, "a")
	got, _ := ino.Getattr()
	if got.Mode != abi.S_IFREG|0o4750 || got.Uid != 70000 || got.Gid != 80000 ||
		got.Atime != a.Atime || got.Mtime != a.Mtime || got.Ctime != a.Ctime {
		t.Errorf("got %+v", got)
	}
	checkHostAttr(t, img, "a", a)
}

// TestAllocLayout checks where blocks go: a file written in order, in
// pieces, is one extent (one run); blocks freed in a transaction are not
// reused before it commits, and are after.
func TestAllocLayout(t *testing.T) {
	img := makeWriteImage(t, []string{"-b", "4096"}, 32, map[string][]byte{"a": nil, "b": []byte("y")})
	f, _ := mountImageRW(t, img)
	a, b := rwFile(t, f, "a"), rwFile(t, f, "b")
	chunk := make([]byte, 12345)
	for i := int64(0); i < 40; i++ {
		if _, err := a.WriteAt(testCtx, chunk, i*int64(len(chunk))); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := a.blockRuns()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Errorf("file written in order has %d runs, want 1: %v", len(runs), runs)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	old := append([]run(nil), runs...)
	if err := a.Setattr(testCtx, vfs.SetAttr{Valid: vfs.SetSize, Size: 0}); err != nil {
		t.Fatal(err)
	}
	overlaps := func(rs []run) bool {
		for _, r := range rs {
			for _, o := range old {
				if r.pblk < o.pblk+o.n && o.pblk < r.pblk+r.n {
					return true
				}
			}
		}
		return false
	}
	if _, err := b.WriteAt(testCtx, chunk, 0); err != nil {
		t.Fatal(err)
	}
	rb, _ := b.blockRuns()
	if overlaps(rb) {
		t.Errorf("blocks freed in the running transaction reused: %v (freed %v)", rb, old)
	}
	// Straight at the allocator: a freed block is no goal before the
	// commit, and is after it.
	goal := old[0].pblk
	alloc := func() uint64 {
		h, err := f.begin()
		if err != nil {
			t.Fatal(err)
		}
		blk, _, err := h.allocBlocks(nil, goal, 1, true)
		if err == nil {
			err = h.freeBlocks(nil, blk, 1)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		return blk
	}
	if blk := alloc(); overlaps([]run{{pblk: blk, n: 1}}) {
		t.Errorf("freed block %d handed out before the commit", blk)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if blk := alloc(); blk != goal {
		t.Errorf("allocation at the free goal %d after the commit gave %d", goal, blk)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
}

// TestWriteRandomOps applies random writes, punches, preallocations, zero
// ranges and truncations to a file, with commits in between, and checks
// the content against a model along the way, then e2fsck -fn and the
// host kernel's view. Small blocks and short extents keep the tree busy:
// merges, splits, removals across leaves.
func TestWriteRandomOps(t *testing.T) {
	for _, lay := range []struct {
		name string
		args []string
	}{
		{"ext4-1k", []string{"-b", "1024"}},
		{"ext4-4k-nocsum", []string{"-b", "4096", "-O", "^metadata_csum"}},
		{"ext2-1k", []string{"-t", "ext2", "-b", "1024"}},
		{"bigalloc-16k", []string{"-b", "1024", "-O", "bigalloc", "-C", "16384"}},
		{"bigalloc-64k-nocsum", []string{"-b", "4096", "-O", "bigalloc,^metadata_csum", "-C", "65536"}},
	} {
		t.Run(lay.name, func(t *testing.T) {
			img := makeWriteImage(t, lay.args, 24, map[string][]byte{"a": nil})
			f, _ := mountImageRW(t, img)
			fi := rwFile(t, f, "a")
			extents := fi.flags&disk.InodeExtentsFl != 0
			bs := int64(f.BlockSize)
			span := 3000 * bs
			rnd := rand.New(rand.NewSource(3))
			m := &fileModel{}
			buf := make([]byte, 8*bs)
			for op := 0; op < 2500; op++ {
				off := rnd.Int63n(span)
				n := 1 + rnd.Int63n(2*bs)
				var err error
				k := rnd.Intn(100)
				if !extents && k >= 70 && k < 90 {
					k = 0 // no fallocate on block maps
				}
				switch {
				case k < 55:
					rnd.Read(buf[:n])
					_, err = fi.WriteAt(testCtx, buf[:n], off)
					m.write(buf[:n], off)
				case k < 70:
					err = fi.Fallocate(testCtx, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, off, n)
					m.zero(off, n)
				case k < 78:
					err = fi.Fallocate(testCtx, abi.FALLOC_FL_KEEP_SIZE, off, n)
				case k < 83:
					err = fi.Fallocate(testCtx, 0, off, n)
					m.grow(off + n)
				case k < 90:
					err = fi.Fallocate(testCtx, abi.FALLOC_FL_ZERO_RANGE, off, n)
					m.zero(off, n)
					m.grow(off + n)
				case k < 91:
					size := span/2 + rnd.Int63n(span/2)
					err = fi.Setattr(testCtx, vfs.SetAttr{Valid: vfs.SetSize, Size: size})
					m.truncate(size)
				default:
					err = f.Sync()
				}
				if err != nil {
					t.Fatalf("op %d: %v", op, err)
				}
				if op%250 == 0 {
					checkContent(t, fi, m, "random ops")
				}
			}
			checkContent(t, fi, m, "random ops")
			runs, _ := fi.blockRuns()
			t.Logf("%d runs, depth %d, %d blocks", len(runs), le.Uint16(fi.iBlock[6:]), fi.blocks)
			ino := umountAndCheck(t, f, img, "a", m)
			attr, _ := ino.Getattr()
			checkHost(t, img, "a", m, attr.Blocks, nil)
		})
	}
}

// TestDeleteXattrBlock deletes two new inodes sharing an attribute block:
// the first delete lowers h_refcount, the second frees the block.
func TestDeleteXattrBlock(t *testing.T) {
	for _, lay := range writeLayouts[:3] {
		t.Run(lay.name, func(t *testing.T) {
			img := makeWriteImage(t, lay.args, 16, map[string][]byte{"a": nil})
			f, _ := mountImageRW(t, img)
			before, _ := f.Statfs()
			root, _ := f.iget(disk.RootIno)
			h, _ := f.begin()
			x, err1 := h.newInode(root, testCtx, abi.S_IFREG|0o600)
			y, err2 := h.newInode(root, testCtx, abi.S_IFREG|0o600)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			blk, err := h.allocBlock(x, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := h.newMetaBlock(blk)
			le.PutUint32(b[0:], disk.XattrMagic)
			le.PutUint32(b[4:], 2) // h_refcount
			le.PutUint32(b[8:], 1) // h_blocks
			f.setXattrCsumOnly(b, blk)
			x.fileACL, y.fileACL = blk, blk
			y.blocks += int64(f.BlockSize >> 9)
			h.writeInode(x)
			h.writeInode(y)
			if err := h.deleteInode(x); err != nil {
				t.Fatal(err)
			}
			if got := le.Uint32(b[4:]); got != 1 {
				t.Errorf("h_refcount %d after the first delete, want 1", got)
			}
			if _, err := f.decodeXattrBlock(b, blk); err != nil {
				t.Errorf("xattr block after the first delete: %v", err)
			}
			if err := h.deleteInode(y); err != nil {
				t.Fatal(err)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			after, _ := f.Statfs()
			if after.Bfree != before.Bfree || after.Ffree != before.Ffree {
				t.Errorf("free blocks %d inodes %d, want %d %d", after.Bfree, after.Ffree, before.Bfree, before.Ffree)
			}
			umountRW(t, f)
			e2fsckClean(t, img)
		})
	}
}
