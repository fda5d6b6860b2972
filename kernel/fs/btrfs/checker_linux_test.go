package btrfs_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The read-time tree-checker and what Linux reads at mount: an item
// made bad in a leaf (its checksum set right) makes Linux refuse the
// whole leaf, so the mount fails (a leaf of the extent tree, which
// Linux reads whole at mount for the block groups, unless
// rescue=ignorebadroots) or every path whose lookup goes through the
// leaf fails with EIO, the leaf's good items with it. The library
// kernel must fail the same mounts and the same paths, with the same
// errno.

// leafBlocks returns the physical offsets of the leaves of tree id in
// img that hold an item of key type typ, from btrfs-progs' dump-tree and
// btrfs-map-logical.
func leafBlocks(t *testing.T, img string, id uint64, typ uint8) []int64 {
	t.Helper()
	out, err := exec.Command("btrfs", "inspect-internal", "dump-tree", "-t", strconv.FormatUint(id, 10), img).Output()
	if err != nil {
		t.Fatalf("dump-tree: %v", err)
	}
	var leaves []int64
	for _, blk := range regexp.MustCompile(`(?m)^leaf (\d+) items`).FindAllStringSubmatch(string(out), -1) {
		l, _ := strconv.ParseUint(blk[1], 10, 64)
		m, err := exec.Command("btrfs-map-logical", "-l", blk[1], img).Output()
		if err != nil {
			t.Fatalf("btrfs-map-logical: %v", err)
		}
		p := regexp.MustCompile(`physical (\d+)`).FindStringSubmatch(string(m))
		if p == nil {
			t.Fatalf("btrfs-map-logical %d: %s", l, m)
		}
		at, _ := strconv.ParseInt(p[1], 10, 64)
		n := readLeaf(t, img, at, l)
		for i := range int(n.Nritems) {
			if n.Item(i).Key.Type == typ {
				leaves = append(leaves, at)
				break
			}
		}
	}
	return leaves
}

// readLeaf decodes the tree block at physical at (logical l) of img.
func readLeaf(t *testing.T, img string, at int64, l uint64) *disk.Node {
	t.Helper()
	sb := superOf(t, img)
	b := make([]byte, sb.NodeSize)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	n, err := disk.DecodeNode(b, l, sb.CsumType, sb.Fsid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func superOf(t *testing.T, img string) *disk.SuperBlock {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, disk.SuperInfoSize)
	if _, err := f.ReadAt(b, disk.SuperInfoOffset); err != nil {
		t.Fatal(err)
	}
	sb, err := disk.DecodeSuperBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// damageItem copies img and, in the copy, has change rewrite the data
// of the items of key type typ in the leaf at physical at (their keys
// too, by the item's index) until it returns true, then sets the leaf's
// checksum right.
func damageItem(t *testing.T, img string, at int64, typ uint8, change func(n *disk.Node, i int, b []byte) bool) string {
	t.Helper()
	sb := superOf(t, img)
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "damaged.img")
	if err := os.WriteFile(out, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), orig[at:at+int64(sb.NodeSize)]...)
	n, err := disk.DecodeNode(b, binary.LittleEndian.Uint64(b[48:]), sb.CsumType, sb.Fsid) // the header's bytenr
	if err != nil {
		t.Fatal(err)
	}
	for i := range int(n.Nritems) {
		if n.Item(i).Key.Type == typ && change(n, i, b) {
			break
		}
	}
	disk.FixChecksum(sb.CsumType, b)
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	return out
}

// outcome is what a mount of an image shows: the mount's errno, or the
// errno of lstat and of opening each path ("" for success).
type outcome struct {
	mount string
	paths map[string]string
}

func errnoName(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(unix.Errno); ok {
		if e == unix.EUCLEAN {
			return "EUCLEAN"
		}
		return unix.ErrnoName(e)
	}
	return abi.ErrnoOf(err).Error()
}

// hostOutcome mounts img read-only (a read-only loop device) with opts
// in the host kernel and tries paths.
func hostOutcome(t *testing.T, img, opts string, paths []string) outcome {
	t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", "-r", img).Output()
	if err != nil {
		t.Skipf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", dev).Run()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dev, mnt, "btrfs", unix.MS_RDONLY, opts); err != nil {
		return outcome{mount: errnoName(err)}
	}
	defer unix.Unmount(mnt, 0)
	o := outcome{paths: map[string]string{}}
	for _, p := range paths {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(mnt, p), &st)
		if err == nil {
			var fd int
			if fd, err = unix.Open(filepath.Join(mnt, p), unix.O_RDONLY|unix.O_NOFOLLOW, 0); err == nil {
				unix.Close(fd)
			}
		}
		o.paths[p] = errnoName(err)
	}
	return o
}

// bootWith boots a library kernel with img as a read-only /dev/vda,
// halted at the test's end.
func bootWith(t *testing.T, img string) *kernel.Kernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	if _, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: true, Format: "raw"}); err != nil {
		t.Fatal(err)
	}
	return k
}

// mountedKernel is bootWith with the image mounted on /mnt.
func mountedKernel(t *testing.T, img string) *kernel.Kernel {
	t.Helper()
	k := bootWith(t, img)
	if err := k.Mount("/dev/vda", "/mnt", "btrfs", abi.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	return k
}

// kernelOutcome is hostOutcome through the library kernel.
func kernelOutcome(t *testing.T, img, opts string, paths []string) outcome {
	t.Helper()
	k := bootWith(t, img)
	if err := k.Mount("/dev/vda", "/mnt", "btrfs", abi.MS_RDONLY, opts); err != nil {
		t.Logf("library kernel: mount: %v", err)
		return outcome{mount: errnoName(err)}
	}
	o := outcome{paths: map[string]string{}}
	for _, p := range paths {
		var st abi.Stat
		err := k.Fstatat(abi.AT_FDCWD, "/mnt/"+p, &st, abi.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			var fd int
			if fd, err = k.Openat(abi.AT_FDCWD, "/mnt/"+p, abi.O_RDONLY|abi.O_NOFOLLOW, 0); err == nil {
				k.Close(fd)
			}
		}
		o.paths[p] = errnoName(err)
	}
	return o
}

func TestTreeCheckerAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "btrfs-map-logical", "losetup")
	testutil.NeedLoop(t)
	src := t.TempDir()
	files := map[string]string{"top": "x"}
	for i := range 300 {
		files[fmt.Sprintf("many/file-%03d", i)] = fmt.Sprint(i)
	}
	testutil.WriteFiles(t, src, files, nil)
	paths := []string{"top", "many"}
	for p := range files {
		if strings.HasPrefix(p, "many/") {
			paths = append(paths, p)
		}
	}
	img := mkfsBtrfs(t, "-n", "4096", "-m", "single", "--rootdir", src)
	fsLeaves := leafBlocks(t, img, disk.FsTreeObjectid, disk.InodeItemKey)
	if len(fsLeaves) < 3 {
		t.Fatalf("%d leaves with inodes, want more", len(fsLeaves))
	}
	last := fsLeaves[len(fsLeaves)-2] // not the first leaf (the root directory's)
	for _, c := range []struct {
		name string
		at   int64
		typ  uint8
		// change damages item i of the block b (n decoded).
		change func(n *disk.Node, i int, b []byte) bool
	}{
		{"inode-mode", last, disk.InodeItemKey, func(n *disk.Node, i int, b []byte) bool {
			// check_inode_item: no S_IF* type.
			copy(b[n.DataOffset(i)+52:], []byte{0o644 & 0xff, 0o644 >> 8, 0, 0})
			return true
		}},
		{"inode-generation", last, disk.InodeItemKey, func(n *disk.Node, i int, b []byte) bool {
			b[n.DataOffset(i)+7] = 0x40 // far past the superblock's
			return true
		}},
		{"dir-index-type", leafBlocks(t, img, disk.FsTreeObjectid, disk.DirIndexKey)[1], disk.DirIndexKey, func(n *disk.Node, i int, b []byte) bool {
			b[n.DataOffset(i)+29] = 12 // check_dir_item: no such BTRFS_FT_*
			return true
		}},
		{"extent-generation", leafBlocks(t, img, disk.ExtentTreeObjectid, disk.MetadataItemKey)[0], disk.MetadataItemKey, func(n *disk.Node, i int, b []byte) bool {
			b[n.DataOffset(i)+8+7] = 0x40 // check_extent_item's generation
			return true
		}},
		{"extent-flags", leafBlocks(t, img, disk.ExtentTreeObjectid, disk.MetadataItemKey)[0], disk.MetadataItemKey, func(n *disk.Node, i int, b []byte) bool {
			b[n.DataOffset(i)+16] = 3 // data and tree block at once
			return true
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := damageItem(t, img, c.at, c.typ, c.change)
			for _, opts := range []string{"", "rescue=all"} {
				want := hostOutcome(t, bad, opts, paths)
				got := kernelOutcome(t, bad, opts, paths)
				if got.mount != want.mount {
					t.Fatalf("-o %q: mount: %q, host %q", opts, got.mount, want.mount)
				}
				failed := 0
				for _, p := range paths {
					if got.paths[p] != want.paths[p] {
						t.Errorf("-o %q: %s: %q, host %q", opts, p, got.paths[p], want.paths[p])
					}
					if want.paths[p] != "" {
						failed++
					}
				}
				t.Logf("-o %q: mount %q, %d of %d paths failed on both", opts, want.mount, failed, len(paths))
			}
		})
	}
}

// A symlink's target with a NUL byte in it (damage: the inline extent
// holding it changed) reads up to the NUL, as Linux's readlink(2) does.
func TestSymlinkTargetNUL(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "btrfs-map-logical", "losetup")
	testutil.NeedLoop(t)
	src := t.TempDir()
	if err := os.Symlink("abcdef", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	img := mkfsBtrfs(t, "-n", "4096", "-m", "single", "--rootdir", src)
	leaves := leafBlocks(t, img, disk.FsTreeObjectid, disk.ExtentDataKey)
	bad := damageItem(t, img, leaves[0], disk.ExtentDataKey, func(n *disk.Node, i int, b []byte) bool {
		inline := b[n.DataOffset(i)+disk.FileExtentInlineDataStart:]
		if string(inline[:6]) != "abcdef" {
			t.Fatalf("inline extent %q, not the link's", inline[:6])
		}
		inline[2] = 0
		return true
	})
	for _, sys := range []struct {
		name     string
		readlink func() string
	}{
		{"host", func() string {
			mnt, umount := testutil.HostMount(t, bad, "ro")
			defer umount()
			s, err := os.Readlink(filepath.Join(mnt, "link"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"library kernel", func() string {
			k := mountedKernel(t, bad)
			buf := make([]byte, 4096)
			n, err := k.Readlinkat(abi.AT_FDCWD, "/mnt/link", buf)
			if err != nil {
				t.Fatal(err)
			}
			return string(buf[:n])
		}},
	} {
		if got := sys.readlink(); got != "ab" {
			t.Errorf("%s: readlink %q, want %q", sys.name, got, "ab")
		}
	}
}

// A superblock whose num_devices is wrong (the chunk tree has one
// DEV_ITEM, this device's) mounts, as in Linux, which counts the
// DEV_ITEMs (btrfs_read_chunk_tree) and warns.
func TestNumDevicesMismatch(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	img := mkfsBtrfs(t, "--rootdir", src)
	setSuper(t, img, 0x88, 8) // num_devices
	compare(t, "num_devices 8", img, "")
}

// setSuper sets the u64 at off in img's superblock to v, its checksum
// set right.
func setSuper(t *testing.T, img string, off int, v uint64) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, disk.SuperInfoSize)
	if _, err := f.ReadAt(b, disk.SuperInfoOffset); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(b[off:], v)
	disk.FixChecksum(superOf(t, img).CsumType, b)
	if _, err := f.WriteAt(b, disk.SuperInfoOffset); err != nil {
		t.Fatal(err)
	}
}

// Superblock flags: a conversion btrfs-progs left half done (to the
// block group tree) is refused (EINVAL) but with
// rescue=ignoresuperflags; an unfinished metadata_uuid change always
// (EAGAIN), as Linux refuses the device when it scans it.
func TestSuperFlags(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "losetup")
	testutil.NeedLoop(t)
	base := mkfsBtrfs(t)
	for _, c := range []struct {
		name string
		flag uint64
	}{{"changing-bg-tree", 1 << 38}, {"changing-fsid-v2", disk.SuperFlagChangingFsidV2}} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "flags.img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			setSuper(t, img, 0x38, 1|c.flag) // flags: WRITTEN and the flag
			for _, opts := range []string{"", "rescue=all"} {
				want := hostOutcome(t, img, opts, nil)
				got := kernelOutcome(t, img, opts, nil)
				if got.mount != want.mount {
					t.Errorf("-o %q: mount %q, host %q", opts, got.mount, want.mount)
				}
			}
		})
	}
}

// A file's sectors the checksum tree has no checksum for (the csum item
// moved away from them) fail to read with EIO, as Linux's csum hole.
func TestCsumHole(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "btrfs-map-logical", "losetup")
	testutil.NeedLoop(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "data"), random(7, 64<<10))
	img := mkfsBtrfs(t, "-n", "4096", "-m", "single", "--rootdir", src)
	leaves := leafBlocks(t, img, disk.CsumTreeObjectid, disk.ExtentCsumKey)
	bad := damageItem(t, img, leaves[len(leaves)-1], disk.ExtentCsumKey, func(n *disk.Node, i int, b []byte) bool {
		if int(n.Nritems) != i+1 {
			t.Fatalf("%d checksum items, want one", n.Nritems)
		}
		p := disk.HeaderSize + i*disk.ItemSize + 9 // the key's offset
		binary.LittleEndian.PutUint64(b[p:], binary.LittleEndian.Uint64(b[p:])+1<<30)
		return true
	})
	mnt, umount := testutil.HostMount(t, bad, "ro")
	_, herr := os.ReadFile(filepath.Join(mnt, "data"))
	umount()
	k := mountedKernel(t, bad)
	fd, err := k.Openat(abi.AT_FDCWD, "/mnt/data", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, kerr := k.Read(fd, make([]byte, 64<<10))
	if !errors.Is(herr, unix.EIO) || abi.ErrnoOf(kerr) != abi.EIO {
		t.Fatalf("read: %v, host %v; want EIO from both", kerr, herr)
	}
}

// SEEK_HOLE's quick path: a file with no prealloc extents whose nbytes
// is its size has no holes for Linux (find_desired_extent), whatever its
// extents say (here a sparse file's nbytes made its size).
func TestSeekHoleQuickPath(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "btrfs-map-logical", "losetup")
	testutil.NeedLoop(t)
	img := mkfsBtrfs(t, "-n", "4096", "-m", "single")
	fillHost(t, img, "", func(mnt string) {
		sh(t, "cd "+mnt+" && head -c 4096 /dev/urandom > sparse && truncate -s 65536 sparse && head -c 4096 /dev/urandom >> sparse && sync")
	})
	const size = 65536 + 4096
	found := false
	bad := damageItem(t, img, leafBlocks(t, img, disk.FsTreeObjectid, disk.InodeItemKey)[0], disk.InodeItemKey, func(n *disk.Node, i int, b []byte) bool {
		p := n.DataOffset(i)
		if binary.LittleEndian.Uint64(b[p+16:]) != size { // not the file's size
			return false
		}
		binary.LittleEndian.PutUint64(b[p+24:], size) // nbytes
		found = true
		return true
	})
	if !found {
		t.Fatal("no inode of the sparse file's size")
	}
	mnt, umount := testutil.HostMount(t, bad, "ro")
	hf, err := os.Open(filepath.Join(mnt, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := unix.Seek(int(hf.Fd()), 0, unix.SEEK_HOLE)
	hf.Close()
	umount()
	if err != nil {
		t.Fatal(err)
	}
	k := mountedKernel(t, bad)
	fd, err := k.Openat(abi.AT_FDCWD, "/mnt/sparse", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Lseek(fd, 0, abi.SEEK_HOLE)
	if err != nil || got != want || want != size {
		t.Fatalf("SEEK_HOLE from 0: %d, %v; host %d (size %d)", got, err, want, size)
	}
}
