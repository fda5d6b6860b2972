package ext4

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// layout is an image mke2fs makes for the checks against dumpe2fs.
type layout struct {
	name, size string
	args       []string
}

// layouts are the block sizes and the features that move metadata: many
// groups so that the sparse_super powers (1, 3, 5, 7, 9, 25, 27, 49) and
// several meta groups appear, 1, 2, 4 and 64 KiB blocks, revision 0,
// no sparse_super, sparse_super2 with one and two backups, meta_bg with
// 32- and 64-byte descriptors, bigalloc (with 1 KiB blocks, where
// s_first_data_block is 0), flex_bg sizes and none, gdt_csum, casefold,
// a journal with an orphan file. Only the last has a journal: the tests
// read metadata, and the images stay quick to make.
func layouts() []layout {
	nj := "^has_journal"
	return []layout{
		{"1k-64groups", "16M", []string{"-b", "1024", "-g", "256", "-N", "2048", "-O", nj, "-E", "resize=65536"}},
		{"2k", "32M", []string{"-b", "2048", "-g", "2048", "-O", nj, "-L", "vol-2k"}},
		{"4k", "256M", []string{"-b", "4096", "-g", "4096", "-O", nj}},
		{"64k", "1G", []string{"-b", "65536", "-g", "2048", "-O", nj}},
		{"rev0", "16M", []string{"-t", "ext2", "-r", "0", "-b", "1024", "-g", "1024"}},
		{"ext2-no-sparse_super", "16M", []string{"-t", "ext2", "-O", "^sparse_super,^resize_inode", "-b", "1024", "-g", "1024"}},
		{"sparse_super2", "16M", []string{"-b", "1024", "-g", "1024", "-O", nj + ",sparse_super2", "-E", "num_backup_sb=2"}},
		{"sparse_super2-one", "16M", []string{"-b", "1024", "-g", "1024", "-O", nj + ",sparse_super2", "-E", "num_backup_sb=1"}},
		{"meta_bg", "16M", []string{"-b", "1024", "-g", "256", "-N", "2048", "-O", nj + ",meta_bg,^resize_inode"}},
		{"meta_bg-32byte", "32M", []string{"-b", "1024", "-g", "256", "-N", "2048", "-O", nj + ",meta_bg,^resize_inode,^64bit"}},
		{"bigalloc-1k", "100M", []string{"-b", "1024", "-C", "4096", "-O", nj + ",bigalloc"}},
		{"bigalloc-4k", "5G", []string{"-b", "4096", "-C", "65536", "-O", nj + ",bigalloc"}},
		{"flex_bg-4", "32M", []string{"-b", "1024", "-g", "1024", "-G", "4", "-O", nj}},
		{"no-flex_bg", "64M", []string{"-b", "4096", "-g", "2048", "-O", nj + ",^flex_bg"}},
		{"gdt_csum-32byte", "32M", []string{"-b", "1024", "-g", "2048", "-O", nj + ",^metadata_csum,^64bit,uninit_bg"}},
		{"casefold-csum_seed", "32M", []string{"-b", "4096", "-g", "2048", "-O", nj + ",casefold,metadata_csum_seed"}},
		{"journal", "64M", []string{"-b", "4096", "-g", "4096", "-O", "orphan_file", "-E", "hash_seed=9e1f0c2a-7d3b-4c5e-8f60-718293a4b5c6"}},
	}
}

// TestSuperblockDumpe2fs decodes the superblock of each layout and
// compares every field the struct holds that dumpe2fs prints.
func TestSuperblockDumpe2fs(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.name, func(t *testing.T) {
			im := mkImage(t, l.size, l.args...)
			d := runDumpe2fs(t, im.path)
			checkSuperblock(t, im.Super, d)
		})
	}
}

func checkSuperblock(t *testing.T, sb *Superblock, d *dumpe2fs) {
	eq := func(k string, got uint64) {
		t.Helper()
		if want := d.num(t, k); got != want {
			t.Errorf("%s: %d, dumpe2fs %d", k, got, want)
		}
	}
	str := func(k, got string) {
		t.Helper()
		if want := d.header[k]; got != want {
			t.Errorf("%s: %q, dumpe2fs %q", k, got, want)
		}
	}
	eq("Inode count", uint64(sb.SInodesCount))
	eq("Block count", sb.SBlocksCount)
	eq("Reserved block count", sb.SRBlocksCount)
	eq("Free blocks", sb.SFreeBlocksCount)
	eq("Free inodes", uint64(sb.SFreeInodesCount))
	eq("First block", uint64(sb.SFirstDataBlock))
	eq("Block size", uint64(sb.BlockSize()))
	eq("Blocks per group", uint64(sb.SBlocksPerGroup))
	eq("Inodes per group", uint64(sb.SInodesPerGroup))
	eq("Filesystem magic number", uint64(sb.SMagic))
	eq("Filesystem revision #", uint64(sb.SRevLevel))
	if sb.HasRoCompat(RoCompatBigalloc) {
		eq("Cluster size", uint64(1024)<<sb.SLogClusterSize)
		eq("Clusters per group", uint64(sb.SClustersPerGroup))
	} else {
		eq("Fragment size", uint64(1024)<<sb.SLogClusterSize)
		eq("Fragments per group", uint64(sb.SClustersPerGroup))
	}
	if sb.SRevLevel > RevGoodOld {
		eq("First inode", uint64(sb.SFirstIno))
		eq("Inode size", uint64(sb.SInodeSize))
	} else if sb.SFirstIno != GoodOldFirstIno || sb.SInodeSize != GoodOldInodeSize {
		t.Errorf("revision 0: first inode %d, inode size %d", sb.SFirstIno, sb.SInodeSize)
	}
	features := sb.FeatureString()
	if features == "" {
		features = "(none)"
	}
	str("Filesystem features", features)
	str("Filesystem UUID", sb.UuidString())
	name := strings.TrimRight(string(sb.SVolumeName[:]), "\x00")
	if name == "" {
		name = "<none>"
	}
	str("Filesystem volume name", name)
	state := "not clean"
	if sb.SState&SuperStateValid != 0 {
		state = "clean"
	}
	str("Filesystem state", state)
	wtime := "n/a"
	if sb.SWtime != 0 {
		wtime = time.Unix(int64(sb.SWtime), 0).UTC().Format(time.ANSIC)
	}
	str("Last write time", wtime)
	mtime := "n/a"
	if sb.SMtime != 0 {
		mtime = time.Unix(int64(sb.SMtime), 0).UTC().Format(time.ANSIC)
	}
	str("Last mount time", mtime)
	if sb.HasCompat(CompatOrphanFile) {
		eq("Orphan file inode", uint64(sb.SOrphanFileInum))
	}
	if sb.HasCompat(CompatResizeInode) {
		eq("Reserved GDT blocks", uint64(sb.SReservedGdtBlocks))
	}
	if sb.HasCompat(CompatHasJournal) {
		eq("Journal inode", uint64(sb.SJournalInum))
	}
	if sb.HasIncompat(Incompat64bit) {
		eq("Group descriptor size", uint64(sb.SDescSize))
	}
	if sb.HasIncompat(IncompatFlexBG) {
		eq("Flex block group size", uint64(1)<<sb.SLogGroupsPerFlex)
	}
	if sb.HasRoCompat(RoCompatExtraIsize) {
		eq("Required extra isize", uint64(sb.SMinExtraIsize))
		eq("Desired extra isize", uint64(sb.SWantExtraIsize))
	}
	if sb.HasCompat(CompatSparseSuper2) {
		var bgs []string
		for _, g := range sb.SBackupBGs {
			if g != 0 {
				bgs = append(bgs, fmt.Sprint(g))
			}
		}
		str("Backup block groups", strings.Join(bgs, " "))
	}
	if sb.MetadataCsum() {
		str("Checksum type", "crc32c")
		eq("Checksum", uint64(sb.SChecksum))
	}
	if sb.HasIncompat(IncompatCsumSeed) {
		eq("Checksum seed", uint64(sb.SChecksumSeed))
	}
	if sb.HasIncompat(IncompatCasefold) {
		str("Character encoding", map[uint16]string{EncodingUTF8_12_1: "utf8-12.1"}[sb.SEncoding])
		if err := sb.CheckEncoding(); err != nil {
			t.Error(err)
		}
	}
	if _, ok := d.header["Overhead clusters"]; ok {
		eq("Overhead clusters", uint64(sb.SOverheadClusters))
	}
	if sb.HasCompat(CompatDirIndex) {
		str("Default directory hash", [...]string{"legacy", "half_md4", "tea"}[sb.SDefHashVersion%3])
		var seed [16]byte
		for i, w := range sb.SHashSeed {
			le.PutUint32(seed[4*i:], w)
		}
		u := Superblock{SUUID: seed}
		str("Directory Hash Seed", u.UuidString())
	}
	flags := ""
	if sb.SFlags&FlagSignedHash != 0 {
		flags += "signed_directory_hash "
	}
	if sb.SFlags&FlagUnsignedHash != 0 {
		flags += "unsigned_directory_hash "
	}
	str("Filesystem flags", strings.TrimSpace(flags))
}

// TestGeometryDumpe2fs derives each layout's geometry and loads its
// descriptors with this package alone, and compares them group by group
// with dumpe2fs: where each group starts and ends, which groups hold a
// superblock and descriptors and where, the base metadata's extent, the
// descriptors' fields and checksums, and the free blocks of each group's
// bitmap (computed by InitBlockBitmap for a BLOCK_UNINIT group, as
// libext2fs computes it, read from the image otherwise).
func TestGeometryDumpe2fs(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.name, func(t *testing.T) {
			im := mkImage(t, l.size, l.args...)
			d := runDumpe2fs(t, im.path)
			checkGeometry(t, im, d)
			for g := range d.groups {
				checkGroup(t, im, uint32(g), &d.groups[g])
			}
		})
	}
}

func checkGeometry(t *testing.T, im *testImage, d *dumpe2fs) {
	sb := im.Super
	if len(im.Groups) != len(d.groups) || sb.GroupCount() != uint64(len(d.groups)) {
		t.Fatalf("%d groups (GroupCount %d), dumpe2fs %d", len(im.Groups), sb.GroupCount(), len(d.groups))
	}
	descSize := uint64(MinDescSize)
	if _, ok := d.header["Group descriptor size"]; ok {
		descSize = d.num(t, "Group descriptor size")
	}
	clusterSize := d.header["Fragment size"] + d.header["Cluster size"]
	if im.DescPerBlock != im.BlockSize/uint32(descSize) ||
		fmt.Sprint(uint64(im.BlockSize)<<im.ClusterBits) != clusterSize ||
		im.InodeTableBlocks != d.num(t, "Inode blocks per group") ||
		im.InodeSize != uint32(sb.SInodeSize) || im.SuperBlockNr() != d.groups[0].super {
		t.Errorf("geometry %+v, dumpe2fs: descriptor size %d, cluster size %s, inode blocks per group %s, superblock at %d",
			im, descSize, clusterSize, d.header["Inode blocks per group"], d.groups[0].super)
	}
	flex := uint64(1)
	if _, ok := d.header["Flex block group size"]; ok {
		flex = d.num(t, "Flex block group size")
	}
	if uint64(im.FlexSize()) != flex {
		t.Errorf("FlexSize %d, dumpe2fs %d", im.FlexSize(), flex)
	}
	// The descriptor table: group 0's, or the first block of each meta group.
	if !sb.HasIncompat(IncompatMetaBG) {
		g0 := d.groups[0]
		if im.DescBlocks() != g0.gdLast-g0.gdFirst+1 {
			t.Errorf("DescBlocks %d, dumpe2fs %d-%d", im.DescBlocks(), g0.gdFirst, g0.gdLast)
		}
		for nr := uint64(0); nr < im.DescBlocks(); nr++ {
			if im.DescBlock(nr) != g0.gdFirst+nr {
				t.Errorf("DescBlock(%d) = %d, dumpe2fs %d", nr, im.DescBlock(nr), g0.gdFirst+nr)
			}
		}
	} else {
		for g := uint32(0); g < uint32(len(d.groups)); g += im.DescPerBlock {
			if nr := uint64(g / im.DescPerBlock); im.DescBlock(nr) != d.groups[g].gdFirst {
				t.Errorf("DescBlock(%d) = %d, dumpe2fs has group %d's descriptors at %d", nr, im.DescBlock(nr), g, d.groups[g].gdFirst)
			}
		}
	}
}

func checkGroup(t *testing.T, im *testImage, g uint32, dg *dumpGroup) {
	sb := im.Super
	if im.GroupFirst(g) != dg.first || im.GroupBlocks(g) != dg.last-dg.first+1 {
		t.Errorf("group %d: GroupFirst %d GroupBlocks %d, dumpe2fs blocks %d-%d", g, im.GroupFirst(g), im.GroupBlocks(g), dg.first, dg.last)
	}
	if gg, bit := im.GroupOfBlock(dg.last); gg != g || bit != (dg.last-dg.first)>>im.ClusterBits {
		t.Errorf("group %d: GroupOfBlock(%d) = %d, %d", g, dg.last, gg, bit)
	}
	if sb.HasSuper(uint64(g)) != dg.hasSuper {
		t.Errorf("group %d: HasSuper %v, dumpe2fs %v", g, sb.HasSuper(uint64(g)), dg.hasSuper)
	}
	// The base metadata is a run at the group's start: the superblock,
	// the descriptors, the reserved GDT blocks (with 1 KiB blocks and
	// bigalloc, group 0 starts at block 0, before the superblock).
	var base uint64
	if dg.hasSuper || dg.hasDescs {
		base = max(dg.super, dg.gdLast, dg.resLast) - dg.first + 1
	}
	if im.BaseMetaBlocks(g) != base {
		t.Errorf("group %d: BaseMetaBlocks %d, dumpe2fs %d (super %d, descriptors %d-%d, reserved %d-%d)",
			g, im.BaseMetaBlocks(g), base, dg.super, dg.gdFirst, dg.gdLast, dg.resFirst, dg.resLast)
	}

	gd := &im.Groups[g]
	flags := ""
	for _, f := range []struct {
		bit  uint16
		name string
	}{{BgInodeUninit, "INODE_UNINIT"}, {BgBlockUninit, "BLOCK_UNINIT"}, {BgInodeZeroed, "ITABLE_ZEROED"}} {
		if gd.BgFlags&f.bit != 0 {
			flags += ", " + f.name
		}
	}
	flags = strings.TrimPrefix(flags, ", ")
	if !im.HasGroupCsum() {
		flags = "" // dumpe2fs prints the flags with checksums only
	}
	want := GroupDesc{
		BgBlockBitmap: dg.blockBitmap, BgInodeBitmap: dg.inodeBitmap, BgInodeTable: dg.itFirst,
		BgFreeBlocksCount: uint32(dg.free), BgFreeInodesCount: uint32(dg.freeInodes),
		BgUsedDirsCount: uint32(dg.dirs), BgItableUnused: uint32(dg.unused), BgFlags: gd.BgFlags,
		BgChecksum: uint16(max(dg.csum, 0)), BgBlockBitmapCsum: uint32(max(dg.bbCsum, 0)),
		BgInodeBitmapCsum: uint32(max(dg.ibCsum, 0)),
	}
	if *gd != want || flags != dg.flags || dg.itLast-dg.itFirst+1 != im.InodeTableBlocks {
		t.Errorf("group %d: descriptor %+v flags %q\ndumpe2fs %+v flags %q, inode table %d-%d", g, *gd, flags, want, dg.flags, dg.itFirst, dg.itLast)
	}

	// The bitmap: free clusters as dumpe2fs lists them (in blocks: the
	// first block of each free cluster).
	var bm []byte
	if im.HasGroupCsum() && gd.BgFlags&BgBlockUninit != 0 {
		bm = make([]byte, im.BlockSize)
		im.InitBlockBitmap(g, bm)
	} else {
		bm = im.block(t, gd.BgBlockBitmap)
	}
	wantFree := map[uint64]bool{}
	for _, r := range dg.freeBlocks {
		for b := r[0]; b <= r[1]; b++ {
			wantFree[(b-dg.first)>>im.ClusterBits] = true
		}
	}
	n := im.GroupClusters(g)
	if n != (im.GroupBlocks(g)+im.ClusterMask())>>im.ClusterBits {
		t.Errorf("group %d: GroupClusters %d", g, n)
	}
	var diff []uint64
	for c := uint64(0); c < n; c++ {
		if !TestBit(bm, c) != wantFree[c] {
			diff = append(diff, c)
		}
	}
	if len(diff) > 0 || uint64(im.CountFree(g, bm)) != dg.free {
		t.Errorf("group %d (uninit %v): bitmap differs from dumpe2fs at clusters %v; CountFree %d, dumpe2fs %d",
			g, gd.BgFlags&BgBlockUninit != 0, diff[:min(len(diff), 10)], im.CountFree(g, bm), dg.free)
	}
}
