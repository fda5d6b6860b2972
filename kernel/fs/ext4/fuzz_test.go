package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	disk "github.com/lklimg/lklimg/format/ext4"
	jbd2disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// synthSuperblock encodes a plausible superblock: 4 KiB blocks, 256-byte
// inodes, extents, 64bit, metadata_csum, one group of 32768 blocks.
func synthSuperblock() []byte {
	b := make([]byte, disk.SuperblockSize)
	le := binary.LittleEndian
	le.PutUint32(b[0x0:], 8192)   // s_inodes_count
	le.PutUint32(b[0x4:], 32768)  // s_blocks_count_lo
	le.PutUint32(b[0xC:], 1000)   // s_free_blocks_count_lo
	le.PutUint32(b[0x10:], 8000)  // s_free_inodes_count
	le.PutUint32(b[0x18:], 2)     // s_log_block_size
	le.PutUint32(b[0x1C:], 2)     // s_log_cluster_size
	le.PutUint32(b[0x20:], 32768) // s_blocks_per_group
	le.PutUint32(b[0x24:], 32768)
	le.PutUint32(b[0x28:], 8192) // s_inodes_per_group
	le.PutUint16(b[0x38:], disk.Ext4SuperMagic)
	le.PutUint32(b[0x4C:], 1)  // s_rev_level
	le.PutUint32(b[0x54:], 11) // s_first_ino
	le.PutUint16(b[0x58:], 256)
	le.PutUint32(b[0x5C:], disk.CompatExtAttr|disk.CompatDirIndex)
	le.PutUint32(b[0x60:], disk.IncompatFiletype|disk.IncompatExtents|disk.Incompat64bit|disk.IncompatFlexBG)
	le.PutUint32(b[0x64:], disk.RoCompatSparseSuper|disk.RoCompatLargeFile|disk.RoCompatHugeFile|disk.RoCompatExtraIsize|disk.RoCompatMetadataCsum|disk.RoCompatDirNlink)
	copy(b[0x68:], "0123456789abcdef")
	b[0xFC] = disk.HashHalfMD4
	le.PutUint16(b[0xFE:], 64)
	le.PutUint16(b[0x15C:], 32)
	le.PutUint32(b[0x160:], disk.FlagSignedHash)
	b[0x175] = disk.ChecksumTypeCrc32c
	tab := crc32.MakeTable(crc32.Castagnoli)
	le.PutUint32(b[disk.OffSChecksum:], disk.Csum32(tab, ^uint32(0), b[:disk.OffSChecksum]))
	return b
}

// fakeFS returns a mounted-looking fsys over dev, without group
// descriptors, for the decoders that need the superblock's geometry.
func fakeFS(t testing.TB, dev []byte) *fsys {
	sb, err := disk.DecodeSuperblock(synthSuperblock())
	if err != nil {
		t.Fatal(err)
	}
	f := &fsys{dev: memDev(dev), log: vfs.DiscardLogger, Geometry: disk.NewGeometry(sb), inodes: icache{}}
	f.CrcTab = crc32.MakeTable(crc32.Castagnoli)
	f.CsumSeed = disk.Csum32(f.CrcTab, ^uint32(0), sb.SUUID[:])
	f.Groups = []disk.GroupDesc{{BgInodeTable: 1}}
	return f
}

// inodeSeed encodes an inode of 256 bytes with the given mode, flags and
// i_block, with a valid checksum for fakeFS.
func inodeSeed(f *fsys, ino uint32, mode uint16, flags uint32, iblock []byte, size uint32) []byte {
	b := make([]byte, 256)
	le := binary.LittleEndian
	le.PutUint16(b[disk.OffIMode:], mode)
	le.PutUint32(b[disk.OffISizeLo:], size)
	le.PutUint16(b[disk.OffILinksCount:], 1)
	le.PutUint32(b[disk.OffIFlags:], flags)
	copy(b[disk.OffIBlock:], iblock)
	le.PutUint16(b[disk.OffIExtraIsize:], 32)
	le.PutUint32(b[disk.OffIMtimeExtra:], 5<<2|1)
	var le32 [4]byte
	le.PutUint32(le32[:], ino)
	seed := disk.Csum32(f.CrcTab, f.CsumSeed, le32[:])
	le.PutUint32(le32[:], 0)
	seed = disk.Csum32(f.CrcTab, seed, le32[:])
	c := disk.Csum32(f.CrcTab, seed, b)
	le.PutUint16(b[disk.OffIChecksumLo:], uint16(c))
	le.PutUint16(b[disk.OffIChecksumHi:], uint16(c>>16))
	return b
}

// extentRoot encodes an i_block extent root with one extent.
func extentRoot(lblk uint32, n uint16, pblk uint32) []byte {
	b := make([]byte, 60)
	le := binary.LittleEndian
	le.PutUint16(b[0:], disk.ExtentMagic)
	le.PutUint16(b[2:], 1)
	le.PutUint16(b[4:], 4)
	le.PutUint32(b[12:], lblk)
	le.PutUint16(b[16:], n)
	le.PutUint32(b[20:], pblk)
	return b
}

func FuzzInode(f *testing.F) {
	fs := fakeFS(f, nil)
	f.Add(inodeSeed(fs, 12, abi.S_IFREG|0o644, disk.InodeExtentsFl, extentRoot(0, 2, 3), 5000))
	f.Add(inodeSeed(fs, 12, abi.S_IFLNK|0o777, 0, []byte("target"), 6))
	f.Add(inodeSeed(fs, 12, abi.S_IFCHR|0o600, 0, []byte{3, 1, 0, 0}, 0))
	f.Add(inodeSeed(fs, 12, abi.S_IFDIR|0o755, disk.InodeInlineDataFl, make([]byte, 60), 60))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 256 {
			return
		}
		fs := fakeFS(t, make([]byte, 64<<10))
		ip, err := fs.decodeInode(12, raw[:256])
		if err != nil {
			return
		}
		exerciseInode(ip.vfsInode(), 2)
	})
}

// exerciseInode calls every operation of an inode and of its children to
// the given depth, at most 100 inodes in all.
func exerciseInode(ip vfs.Inode, depth int) {
	budget := 100
	exerciseInodeBudget(ip, depth, &budget)
}

func exerciseInodeBudget(ip vfs.Inode, depth int, budget *int) {
	if *budget--; *budget < 0 {
		return
	}
	ip.Getattr()
	if x, ok := ip.(vfs.Xattrer); ok {
		names, _ := x.Listxattr()
		for _, n := range names {
			x.Getxattr(n)
		}
		x.Getxattr("system.posix_acl_access")
	}
	switch v := ip.(type) {
	case fileInode:
		buf := make([]byte, 8192)
		for off := int64(0); off < 1<<20; off += int64(len(buf)) {
			if _, err := v.ReadAt(buf, off); err != nil {
				break
			}
		}
		v.SeekData(0)
		v.SeekHole(0)
	case symlinkInode:
		v.Readlink()
	case dirInode:
		n := 0
		v.ReadDir(0, func(e vfs.DirEntry) bool {
			n++
			if depth > 0 && n < 50 {
				if c, err := v.Lookup(e.Name); err == nil {
					exerciseInodeBudget(c, depth-1, budget)
				}
			}
			return n < 2000
		})
		v.Lookup("missing")
	}
}

func FuzzExtentNode(f *testing.F) {
	f.Add(extentRoot(0, 1, 5), []byte{})
	idx := make([]byte, 60)
	le := binary.LittleEndian
	le.PutUint16(idx[0:], disk.ExtentMagic)
	le.PutUint16(idx[2:], 1)
	le.PutUint16(idx[4:], 4)
	le.PutUint16(idx[6:], 1)
	le.PutUint32(idx[16:], 2)
	leaf := make([]byte, 4096)
	copy(leaf, extentRoot(0, 3, 4))
	le.PutUint16(leaf[4:], 340)
	f.Add(idx, leaf)
	f.Fuzz(func(t *testing.T, root, blk []byte) {
		if len(root) < 60 {
			return
		}
		dev := make([]byte, 16*4096)
		copy(dev[2*4096:3*4096], blk)
		fs := fakeFS(t, dev)
		ip := &inode{f: fs, ino: 12, mode: abi.S_IFREG, size: 1 << 40, blocks: 64, flags: disk.InodeExtentsFl}
		copy(ip.iBlock[:], root)
		runs, err := ip.extentRuns()
		if err != nil {
			return
		}
		for i := 1; i < len(runs); i++ {
			if runs[i].lblk < runs[i-1].lblk+runs[i-1].n {
				t.Fatalf("runs overlap: %+v", runs)
			}
		}
		fileInode{ip}.ReadAt(make([]byte, 100), 4096)
		fileInode{ip}.SeekData(0)
		fileInode{ip}.SeekHole(0)
	})
}

// dirBlockSeed encodes a directory block with the given names and a tail.
func dirBlockSeed(bs int, names ...string) []byte {
	b := make([]byte, bs)
	le := binary.LittleEndian
	off := 0
	for i, n := range names {
		rl := int(disk.DirRecLen(len(n)))
		if i == len(names)-1 {
			rl = bs - disk.DirTailSize - off
		}
		le.PutUint32(b[off:], uint32(11+i))
		le.PutUint16(b[off+4:], uint16(rl))
		b[off+6] = byte(len(n))
		b[off+7] = 1
		copy(b[off+8:], n)
		off += rl
	}
	le.PutUint16(b[bs-disk.DirTailSize+4:], disk.DirTailSize)
	b[bs-disk.DirTailSize+7] = disk.DirTailFt
	return b
}

func FuzzDirBlock(f *testing.F) {
	f.Add(dirBlockSeed(1024, ".", "..", "file"), true)
	f.Add(dirBlockSeed(4096, "a", strings.Repeat("x", 255)), false)
	f.Fuzz(func(t *testing.T, b []byte, filetype bool) {
		// The whole directory path, on a one-block directory (the block
		// decoders alone are format/ext4's FuzzDirBlock).
		if len(b) >= 4096 {
			dev := make([]byte, 8*4096)
			copy(dev[4*4096:], b[:4096])
			fs := fakeFS(t, dev)
			ip := &inode{f: fs, ino: 12, mode: abi.S_IFDIR, size: 4096, blocks: 8, flags: disk.InodeExtentsFl | disk.InodeIndexFl}
			copy(ip.iBlock[:], extentRoot(0, 1, 4))
			exerciseInode(dirInode{ip}, 0)
			ip.dxLookup("file")
		}
	})
}

// dxRootSeed encodes a dx_root block with one leaf pointer.
func dxRootSeed(bs int) []byte {
	b := make([]byte, bs)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 2)
	le.PutUint16(b[4:], 12)
	b[6] = 1
	b[8] = '.'
	le.PutUint32(b[12:], 2)
	le.PutUint16(b[16:], uint16(bs-12))
	b[18] = 2
	copy(b[20:], "..")
	b[disk.DxRootInfoOffset+4] = disk.HashHalfMD4
	b[disk.DxRootInfoOffset+5] = disk.DxRootInfoLen
	limit := (bs - disk.DxRootCountOffset - disk.DxTailSize) / disk.DxEntrySize
	le.PutUint16(b[disk.DxRootCountOffset:], uint16(limit))
	le.PutUint16(b[disk.DxRootCountOffset+2:], 1)
	le.PutUint32(b[disk.DxRootCountOffset+4:], 1)
	return b
}

func FuzzDxNode(f *testing.F) {
	f.Add(dxRootSeed(4096), "name")
	node := make([]byte, 1024)
	binary.LittleEndian.PutUint16(node[4:], 1024)
	binary.LittleEndian.PutUint16(node[8:], 126)
	binary.LittleEndian.PutUint16(node[10:], 1)
	f.Add(node, strings.Repeat("long", 40))
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		if len(b) < 64 {
			return
		}
		fs := fakeFS(t, nil)
		ip := &inode{f: fs, ino: 12}
		if co, ok := disk.DxCountOffset(b, uint32(len(b))); ok {
			ip.verifyDxCsum(b, co, 0)
		}
		for v := uint8(0); v <= disk.HashSiphash; v++ {
			ip.dxHash(v, []byte(name))
		}
		if len(b) >= 4096 {
			dev := make([]byte, 8*4096)
			copy(dev[4*4096:], b[:4096])
			copy(dev[5*4096:], dirBlockSeed(4096, "name", "other"))
			fs := fakeFS(t, dev)
			ip := &inode{f: fs, ino: 12, mode: abi.S_IFDIR, size: 8192, blocks: 16, flags: disk.InodeExtentsFl | disk.InodeIndexFl}
			copy(ip.iBlock[:], extentRoot(0, 2, 4))
			ip.dxLookup(name)
		}
	})
}

// xattrBlockSeed encodes an attribute block with one user.name entry.
func xattrBlockSeed(fs *fsys, blk uint64) []byte {
	b := make([]byte, 4096)
	le := binary.LittleEndian
	le.PutUint32(b[0:], disk.XattrMagic)
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], 1)
	e := b[disk.XattrBlockHdrSize:]
	e[0] = 4
	e[1] = disk.XattrIndexUser
	le.PutUint16(e[2:], 4000)
	le.PutUint32(e[8:], 5)
	copy(e[16:], "name")
	copy(b[4000:], "value")
	var le64 [8]byte
	le.PutUint64(le64[:], blk)
	c := disk.Csum32(fs.CrcTab, fs.CsumSeed, le64[:])
	c = disk.Csum32(fs.CrcTab, c, b)
	le.PutUint32(b[disk.OffXattrHChecksum:], c)
	return b
}

func FuzzXattr(f *testing.F) {
	fs := fakeFS(f, nil)
	f.Add(xattrBlockSeed(fs, 7))
	ib := make([]byte, 96)
	binary.LittleEndian.PutUint32(ib, disk.XattrMagic)
	ib[4] = 3
	ib[5] = disk.XattrIndexSecurity
	binary.LittleEndian.PutUint16(ib[6:], 40)
	binary.LittleEndian.PutUint32(ib[12:], 3)
	copy(ib[20:], "foo")
	copy(ib[44:], "bar")
	f.Add(ib)
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := fakeFS(t, nil)
		if ents, err := fs.decodeXattrBlock(b, 7); err == nil {
			for i := range ents {
				ents[i].FullName()
				if len(ents[i].Value) > len(b) {
					t.Fatal("value larger than the block")
				}
			}
		}
		ip := &inode{f: fs, ino: 12, ibody: b}
		ip.Listxattr()
		ip.Getxattr("security.foo")
		ip.inlineData()
	})
}

func FuzzACL(f *testing.F) {
	le := binary.LittleEndian
	acl := le.AppendUint32(nil, ext4ACLVersion)
	acl = le.AppendUint16(acl, aclUserObj)
	acl = le.AppendUint16(acl, 7)
	acl = le.AppendUint16(acl, aclUser)
	acl = le.AppendUint16(acl, 5)
	acl = le.AppendUint32(acl, 1234)
	acl = le.AppendUint16(acl, aclOther)
	acl = le.AppendUint16(acl, 4)
	f.Add(acl)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := aclToXattr(b)
		if err != nil {
			return
		}
		if (len(out)-4)%8 != 0 || le.Uint32(out) != posixACLXattrVer {
			t.Fatalf("bad xattr ACL %x", out)
		}
	})
}

// TestACLConversion checks the conversion against a known value.
func TestACLConversion(t *testing.T) {
	le := binary.LittleEndian
	in := le.AppendUint32(nil, 1)
	in = append(in, 1, 0, 6, 0)                // USER_OBJ rw-
	in = append(in, 2, 0, 7, 0, 0xd2, 4, 0, 0) // USER 1234 rwx
	in = append(in, 0x20, 0, 4, 0)             // OTHER r--
	want := le.AppendUint32(nil, 2)
	want = append(want, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff)
	want = append(want, 2, 0, 7, 0, 0xd2, 4, 0, 0)
	want = append(want, 0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff)
	got, err := aclToXattr(in)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("aclToXattr = %x, %v; want %x", got, err, want)
	}
}

// smallImage builds a small image for FuzzMount: ext4 with 1 KiB blocks,
// no journal, a few files, a multi-block directory and xattrs.
func smallImage(t testing.TB, extra ...string) []byte {
	tools := testutil.Need(t, "mkfs.ext4")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), bytes.Repeat([]byte("data"), 3000), 0o644)
	os.Symlink("f", filepath.Join(src, "l"))
	os.Symlink(strings.Repeat("t/", 40), filepath.Join(src, "slow"))
	os.WriteFile(filepath.Join(src, "tiny"), []byte("tiny file, stored inline with inline_data"), 0o644)
	os.Mkdir(filepath.Join(src, "e"), 0o755)
	os.WriteFile(filepath.Join(src, "e", "x"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(src, "d"), 0o755)
	for i := 0; i < 60; i++ {
		os.WriteFile(filepath.Join(src, "d", strings.Repeat("n", 20)+string(rune('A'+i))), nil, 0o644)
	}
	img := filepath.Join(t.TempDir(), "small.img")
	args := append([]string{"-q", "-F", "-b", "1024", "-N", "128", "-I", "256", "-O", "^has_journal"}, extra...)
	args = append(args, "-d", src, img, "600K")
	if out, err := exec.Command(tools[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hangLimit is how long FuzzMount lets one walk run.
const hangLimit = 2 * time.Second

// FuzzMount mutates a small image with (offset, value) patches, mounts it
// and walks it: no panic, no hang.
func FuzzMount(f *testing.F) {
	base := smallImage(f)
	le := binary.LittleEndian
	patch := func(pairs ...uint32) []byte {
		var b []byte
		for i := 0; i+1 < len(pairs); i += 2 {
			b = le.AppendUint32(b, pairs[i])
			b = append(b, byte(pairs[i+1]))
		}
		return b
	}
	f.Add([]byte{})
	f.Add(patch(1024+0x18, 9))         // log block size
	f.Add(patch(2048+0x8, 0xff))       // inode table
	f.Add(patch(1024+0x60, 0x10))      // meta_bg
	f.Add(patch(1024+0x58, 0x80))      // inode size
	f.Add(patch(30000, 1, 40000, 2))   // data
	f.Add(patch(1024+0x28, 1))         // inodes per group
	f.Add(patch(1024+0x64+1, 0, 0, 0)) // ro_compat without metadata_csum
	f.Fuzz(func(t *testing.T, p []byte) {
		img := append([]byte(nil), base...)
		for len(p) >= 5 {
			off := int(le.Uint32(p)) % len(img)
			img[off] = p[4]
			p = p[5:]
		}
		// Drop metadata_csum half the time so that mutations reach the
		// structures behind the checksums.
		if len(p) > 0 && p[0]&1 != 0 {
			v := le.Uint32(img[1024+0x64:])
			le.PutUint32(img[1024+0x64:], v&^disk.RoCompatMetadataCsum)
		}
		// A walk of this small image takes milliseconds; one that takes
		// seconds is a hang in the making.
		watchdog := time.AfterFunc(hangLimit, func() {
			buf := make([]byte, 1<<20)
			panic("FuzzMount: walk takes too long:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", nil)
		if err != nil {
			return
		}
		sb.Statfs()
		if root, err := sb.Root(); err == nil {
			exerciseInode(root, 3)
		}
		sb.Unmount()
	})
}

// TestSmallImageCsumVariants mounts small images of more feature sets.
func TestSmallImageVariants(t *testing.T) {
	// bigalloc with 1 KiB blocks: s_first_data_block is 0, yet the
	// descriptors follow the superblock in block 1.
	for _, opts := range [][]string{nil, {"-O", "inline_data"}, {"-t", "ext2"}, {"-O", "^metadata_csum,uninit_bg"}, {"-O", "bigalloc", "-C", "4096"}} {
		img := smallImage(t, opts...)
		sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", nil)
		if err != nil {
			t.Fatalf("%v: %v", opts, err)
		}
		ip, err := lookupPath(sb, "f")
		if err != nil {
			t.Fatalf("%v: %v", opts, err)
		}
		got, err := readAll(ip, 1000)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("data"), 3000)) {
			t.Errorf("%v: read f: %v", opts, err)
		}
		if ip, err := lookupPath(sb, "e/x"); err != nil {
			t.Errorf("%v: lookup e/x: %v", opts, err)
		} else if got, err := readAll(ip, 7); string(got) != "x" || err != nil {
			t.Errorf("%v: read e/x: %q, %v", opts, got, err)
		}
		if e, err := lookupPath(sb, "e"); err != nil {
			t.Errorf("%v: lookup e: %v", opts, err)
		} else if ents, err := readDirAll(e); err != nil || len(ents) != 1 || ents[0].Name != "x" {
			t.Errorf("%v: readdir e: %+v, %v", opts, ents, err)
		}
		if ip, err := lookupPath(sb, "tiny"); err != nil {
			t.Errorf("%v: lookup tiny: %v", opts, err)
		} else if got, err := readAll(ip, 5); string(got) != "tiny file, stored inline with inline_data" || err != nil {
			t.Errorf("%v: read tiny: %q, %v", opts, got, err)
		}
		d, err := lookupPath(sb, "d")
		if err != nil {
			t.Fatal(err)
		}
		ents, err := readDirAll(d)
		if err != nil || len(ents) != 60 {
			t.Errorf("%v: readdir d: %d entries, %v", opts, len(ents), err)
		}
		for _, l := range []struct{ name, want string }{{"l", "f"}, {"slow", strings.Repeat("t/", 40)}} {
			ip, err := lookupPath(sb, l.name)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ip.(vfs.Readlinker).Readlink(); got != l.want || err != nil {
				t.Errorf("%v: readlink %s = %q, %v", opts, l.name, got, err)
			}
		}
	}
}

// journalImage builds a small image with a journal and writes into it one
// complete transaction that logs a copy of the root directory's first
// block with a new name in it, and sets needs_recovery: the seed of
// FuzzJournal. It returns the image and the name the replay adds.
func journalImage(t testing.TB) []byte {
	tools := testutil.Need(t, "mkfs.ext4")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("file"), 0o644)
	img := filepath.Join(t.TempDir(), "j.img")
	if out, err := exec.Command(tools[0], "-q", "-F", "-b", "1024", "-O", "^metadata_csum,^dir_index", "-J", "size=1",
		"-N", "64", "-d", src, img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := NewType().Mount(memDev(b), abi.MS_RDONLY, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := sb.(*fsys)
	jip, err := f.iget(f.Super.SJournalInum)
	if err != nil {
		t.Fatal(err)
	}
	jruns, err := jip.blockRuns()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := f.iget(disk.RootIno)
	rruns, _ := root.blockRuns()
	bs := int64(f.BlockSize)
	phys := func(runs []run, n uint64) int64 {
		i := findRun(runs, n)
		return int64(runs[i].pblk+n-runs[i].lblk) * bs
	}
	be := binary.BigEndian
	jsb := b[phys(jruns, 0):]
	first := uint64(be.Uint32(jsb[0x14:]))
	be.PutUint32(jsb[0x1C:], uint32(first)) // s_start
	be.PutUint32(jsb[0x18:], 7)             // s_sequence
	// The transaction: descriptor, the logged block, commit.
	dirBlk := rruns[0].pblk
	logged := append([]byte(nil), b[int64(dirBlk)*bs:int64(dirBlk+1)*bs]...)
	// Rename "f" to "g" in the logged copy.
	if i := bytes.Index(logged, []byte{'f', 0, 0, 0}); i > 0 {
		logged[i] = 'g'
	}
	desc := b[phys(jruns, first) : phys(jruns, first)+bs]
	clear(desc)
	be.PutUint32(desc[0:], jbd2disk.MagicNumber)
	be.PutUint32(desc[4:], jbd2disk.DescriptorBlock)
	be.PutUint32(desc[8:], 7)
	tag := desc[12:] // after journal_header_t
	be.PutUint32(tag[0:], uint32(dirBlk))
	be.PutUint16(tag[6:], jbd2disk.FlagLastTag) // a new UUID follows (zeros)
	copy(b[phys(jruns, first+1):], logged)
	commit := b[phys(jruns, first+2) : phys(jruns, first+2)+bs]
	clear(commit)
	be.PutUint32(commit[0:], jbd2disk.MagicNumber)
	be.PutUint32(commit[4:], jbd2disk.CommitBlock)
	be.PutUint32(commit[8:], 7)
	le := binary.LittleEndian
	le.PutUint32(b[1024+0x60:], le.Uint32(b[1024+0x60:])|disk.IncompatRecover)
	return b
}

// TestJournalSynthetic checks the replay of a hand-made transaction.
func TestJournalSynthetic(t *testing.T) {
	img := journalImage(t)
	orig := append([]byte(nil), img...)
	log := &testLog{}
	sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookupPath(sb, "g"); err != nil {
		t.Errorf("the replayed rename is not seen: %v\n%s", err, log)
	}
	if _, err := lookupPath(sb, "f"); err == nil {
		t.Errorf("the old name is still there")
	}
	if !bytes.Equal(img, orig) {
		t.Errorf("the image was changed")
	}
}

// TestJournalNoload mounts the image of TestJournalSynthetic with noload:
// the journal is not replayed, and the log warns about it.
func TestJournalNoload(t *testing.T) {
	img := journalImage(t)
	log := &testLog{}
	sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "noload", log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookupPath(sb, "f"); err != nil {
		t.Errorf("noload: the on-disk name is not seen: %v", err)
	}
	if _, err := lookupPath(sb, "g"); err == nil {
		t.Errorf("noload: the journal was replayed")
	}
	if !strings.Contains(log.String(), "noload") || strings.Contains(log.String(), "recovery complete") {
		t.Errorf("noload: log:\n%s", log)
	}
	if _, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "noload,bogus=1", nil); !errors.Is(err, abi.EINVAL) {
		t.Errorf("unknown mount option: %v, want EINVAL", err)
	}
}

// FuzzJournal mutates the journal of journalImage and mounts it.
func FuzzJournal(f *testing.F) {
	base := journalImage(f)
	sb, err := NewType().Mount(memDev(base), abi.MS_RDONLY, "", nil)
	if err != nil {
		f.Fatal(err)
	}
	fs := sb.(*fsys)
	jip, _ := fs.iget(fs.Super.SJournalInum)
	jruns, _ := jip.blockRuns()
	jstart := int64(jruns[0].pblk) << fs.BlockBits
	f.Add([]byte{})
	f.Add([]byte{0x1C, 0, 0xff})       // s_start
	f.Add([]byte{0x10, 0, 0})          // s_maxlen
	f.Add([]byte{0x0C, 0x24, 0x01})    // descriptor tag flags
	f.Add([]byte{0x0C, 0x0c, 0xff})    // descriptor tag block number
	f.Add([]byte{0x28, 0x00, 0x12, 0}) // features
	f.Fuzz(func(t *testing.T, p []byte) {
		img := append([]byte(nil), base...)
		// Patches of (journal block 0..3, offset in it, value).
		for len(p) >= 3 {
			off := jstart + int64(p[0]>>6)<<fs.BlockBits + int64(p[0]&0x3f)<<4 + int64(p[1])%16
			if off < int64(len(img)) {
				img[off] = p[2]
			}
			p = p[3:]
		}
		watchdog := time.AfterFunc(hangLimit, func() {
			buf := make([]byte, 1<<20)
			panic("FuzzJournal: mount takes too long:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", nil)
		if err != nil {
			return
		}
		if root, err := sb.Root(); err == nil {
			exerciseInode(root, 2)
		}
	})
}

// TestDamagedDirBlock breaks an entry in the first block of a linear
// directory: as ext4_readdir does, the listing skips the rest of that
// block and lists the other blocks without an error, the damage going
// to the kernel's log (the host kernel lists e2fsprogs' f_salvage_dir
// and f_dup3 so); a lookup of a
// name in another block, or before the bad entry, still works, as
// ext4_search_dir steps over the entries that do not match.
func TestDamagedDirBlock(t *testing.T) {
	img := smallImage(t, "-O", "^dir_index,^metadata_csum")
	sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := lookupPath(sb, "d")
	if err != nil {
		t.Fatal(err)
	}
	all, err := readDirAll(d)
	if err != nil || len(all) != 60 {
		t.Fatalf("readdir d: %d entries, %v", len(all), err)
	}
	f := sb.(*fsys)
	ip, _ := f.iget(uint32(d.(dirInode).ino))
	runs, _ := ip.blockRuns()
	if ip.dirBlocks() < 2 {
		t.Fatalf("d has %d blocks, want several", ip.dirBlocks())
	}
	blk := int64(runs[0].pblk) << f.BlockBits
	le := binary.LittleEndian
	// Entries: ".", "..", then the names; the third one gets rec_len 5.
	off := blk
	for range 3 {
		off += int64(le.Uint16(img[off+4:]))
	}
	victim := string(img[off+8 : off+8+int64(img[off+6])])
	first := string(img[blk+12+12+8 : blk+12+12+8+int64(img[blk+12+12+6])])
	le.PutUint16(img[off+4:], 5)
	log := &testLog{}
	sb, err = NewType().Mount(memDev(img), abi.MS_RDONLY, "", log)
	if err != nil {
		t.Fatal(err)
	}
	d, _ = lookupPath(sb, "d")
	got, err := readDirAll(d)
	if err != nil || !strings.Contains(log.String(), "EXT4-fs error") || !strings.Contains(log.String(), "rec_len") {
		t.Errorf("readdir of a damaged directory: %v, log %q; want no error and the damage logged", err, log)
	}
	names := map[string]bool{}
	for _, e := range got {
		names[e.Name] = true
	}
	if names[victim] || !names[first] || !names[all[len(all)-1].Name] || len(got) >= 60 || len(got) < 30 {
		t.Errorf("readdir: %d entries (victim %q listed: %v, first %q: %v); want the other blocks' entries",
			len(got), victim, names[victim], first, names[first])
	}
	if _, err := lookupPath(sb, "d/"+all[len(all)-1].Name); err != nil {
		t.Errorf("lookup in another block: %v", err)
	}
	if _, err := lookupPath(sb, "d/"+first); err != nil {
		t.Errorf("lookup before the bad entry: %v", err)
	}
}

// TestSymlinkHugeSize: a damaged i_size does not hide a symlink's target;
// Linux cuts it at i_size, at the room it has and at the first NUL.
func TestSymlinkHugeSize(t *testing.T) {
	img := smallImage(t, "-O", "^metadata_csum")
	sb, err := NewType().Mount(memDev(img), abi.MS_RDONLY, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, want string }{{"l", "f"}, {"slow", strings.Repeat("t/", 40)}} {
		vi, err := lookupPath(sb, l.name)
		if err != nil {
			t.Fatal(err)
		}
		ip := vi.(symlinkInode).inode
		ip.size = 1<<43 + 6
		if got, err := vi.(vfs.Readlinker).Readlink(); got != l.want || err != nil {
			t.Errorf("readlink %s with i_size %d = %q, %v; want %q", l.name, ip.size, got, err, l.want)
		}
		// A fast link of size 0 fails ext4_iget; a slow one is the
		// empty target (ext4_get_link: see TestSlowSymlinkOddSize).
		ip.size = 0
		if got, err := vi.(vfs.Readlinker).Readlink(); l.name == "l" && !errors.Is(err, abi.EUCLEAN) || l.name == "slow" && (got != "" || err != nil) {
			t.Errorf("readlink %s with i_size 0: %q, %v", l.name, got, err)
		}
	}
}
