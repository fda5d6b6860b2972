package e2fsprogs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/kernel/abi"
)

// ImageDevice is an unmounted filesystem's device, read and written in
// place: an *os.File, or a section of one.
type ImageDevice interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
}

// offImage is an unmounted filesystem opened by Minimize or AddJournal.
type offImage struct {
	f   *disk.Geometry
	dev ImageDevice
	raw []byte // the primary superblock's 1024 bytes
	// The group count and second sparse_super2 backup as opened.
	origGroups, origBackup1 uint32
}

// Features the offline tools keep valid; others are refused with
// EOPNOTSUPP (incompat, ro_compat) before anything is written.
const (
	offIncompatOK = disk.IncompatFiletype | disk.IncompatExtents | disk.Incompat64bit | disk.IncompatFlexBG | disk.IncompatEAInode |
		disk.IncompatCsumSeed | disk.IncompatLargedir | disk.IncompatInlineData | disk.IncompatEncrypt | disk.IncompatCasefold | disk.IncompatMetaBG
	offRoCompatOK = disk.RoCompatSparseSuper | disk.RoCompatLargeFile | disk.RoCompatHugeFile | disk.RoCompatGdtCsum |
		disk.RoCompatDirNlink | disk.RoCompatExtraIsize | disk.RoCompatMetadataCsum | disk.RoCompatQuota | disk.RoCompatProject |
		disk.RoCompatVerity | disk.RoCompatBtreeDir | disk.RoCompatBigalloc
)

// openOffline reads and checks the superblock and the group descriptors
// of the filesystem on dev: it must be clean (EUCLEAN otherwise, as
// resize2fs asks for e2fsck first) and of features the tools handle.
func openOffline(dev ImageDevice, what string) (*offImage, error) {
	raw := make([]byte, disk.SuperblockSize)
	if _, err := dev.ReadAt(raw, disk.SuperblockOffset); err != nil {
		return nil, abi.Errorf(abi.EIO, "ext4: %s: superblock: %v", what, err)
	}
	sb, err := disk.DecodeSuperblock(raw)
	if err != nil {
		return nil, err
	}
	geom := disk.NewGeometry(sb)
	f := &geom
	if sb.MetadataCsum() {
		if c := disk.Csum32(f.CrcTab, ^uint32(0), raw[:disk.OffSChecksum]); c != sb.SChecksum {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: superblock: bad checksum", what)
		}
	}
	if u := sb.SFeatureIncompat &^ offIncompatOK; u&^disk.IncompatRecover != 0 {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "ext4: %s: unsupported features %s", what, disk.IncompatString(u&^disk.IncompatRecover))
	}
	if u := sb.SFeatureRoCompat &^ offRoCompatOK; u != 0 {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "ext4: %s: unsupported ro_compat features %#x", what, u)
	}
	if uint64(sb.SClustersPerGroup)<<f.ClusterBits != uint64(sb.SBlocksPerGroup) {
		// ext4_fill_super: a group is s_clusters_per_group clusters of
		// 2^clusterBits blocks (as many blocks without bigalloc); the
		// bitmap checksums cover the clusters.
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: blocks per group %d != clusters per group %d of %d blocks",
			what, sb.SBlocksPerGroup, sb.SClustersPerGroup, 1<<f.ClusterBits)
	}
	if sb.HasIncompat(disk.IncompatRecover) || sb.SState&disk.SuperStateValid == 0 || sb.SState&0x2 != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: the filesystem is not clean (needs recovery, in use or with errors): run e2fsck", what)
	}
	// The device must hold every block the superblock counts, as the
	// mount's "bad geometry" check wants; ImageDevice has no size, so its
	// last block is read (FuzzMinimize: a count one past the device end
	// was cut and then reported larger than the device).
	if last := make([]byte, 1); sb.SBlocksCount == 0 || sb.SBlocksCount > 1<<(63-f.BlockBits) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: bad geometry: block count %d", what, sb.SBlocksCount)
	} else if _, err := dev.ReadAt(last, int64(sb.SBlocksCount<<f.BlockBits)-1); err != nil {
		return nil, abi.Errorf(abi.EINVAL, "ext4: %s: bad geometry: block count %d exceeds the device", what, sb.SBlocksCount)
	}
	read := func(b []byte, blk uint64) error {
		if blk >= sb.SBlocksCount {
			return abi.Errorf(abi.EUCLEAN, "block %d beyond end of filesystem", blk)
		}
		_, err := dev.ReadAt(b, int64(blk<<f.BlockBits))
		return err
	}
	if err := f.LoadGroupDescs(int64(sb.SBlocksCount<<f.BlockBits), read, func(uint64, uint16, uint16) {}); err != nil {
		return nil, err
	}
	for g := range f.Groups {
		if f.Groups[g].BadCsum {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: group %d: bad descriptor checksum: run e2fsck", what, g)
		}
		// Every group holds its superblock backup and descriptor
		// table (ext2fs_initialize drops a last group too small for
		// them); the bitmaps are sized by it (FuzzMinimizeBigalloc: a
		// huge s_reserved_gdt_blocks).
		if n := f.BaseMetaBlocks(uint32(g)); n > f.GroupBlocks(uint32(g)) {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: %s: group %d: %d blocks of superblock and descriptors in %d: run e2fsck",
				what, g, n, f.GroupBlocks(uint32(g)))
		}
	}
	return &offImage{f: f, dev: dev, raw: raw, origGroups: uint32(len(f.Groups)), origBackup1: sb.SBackupBGs[1]}, nil
}

// read and write move whole blocks.
func (im *offImage) read(blk uint64, b []byte) error {
	if _, err := im.dev.ReadAt(b, int64(blk<<im.f.BlockBits)); err != nil {
		return abi.Errorf(abi.EIO, "ext4: block %d: %v", blk, err)
	}
	return nil
}

func (im *offImage) write(blk uint64, b []byte) error {
	if _, err := im.dev.WriteAt(b, int64(blk<<im.f.BlockBits)); err != nil {
		return abi.Errorf(abi.EIO, "ext4: block %d: %v", blk, err)
	}
	return nil
}

// blockBitmap reads group g's block bitmap into b, or computes it for a
// BLOCK_UNINIT group from the geometry im.f holds now.
func (im *offImage) blockBitmap(g uint32, b []byte) error {
	f := im.f
	if f.HasGroupCsum() && f.Groups[g].BgFlags&disk.BgBlockUninit != 0 {
		f.InitBlockBitmap(g, b)
		return nil
	}
	return im.read(f.Groups[g].BgBlockBitmap, b)
}

// putBlockBitmap writes b as group g's block bitmap, with the bits past
// the group's last cluster set, and sets the descriptor's free count (in
// clusters), bitmap checksum and flags to match (the descriptor itself is
// written by writeMeta).
func (im *offImage) putBlockBitmap(g uint32, b []byte) error {
	f := im.f
	disk.SetBits(b, f.GroupClusters(g), uint64(f.BlockSize)*8)
	d := &f.Groups[g]
	d.BgFreeBlocksCount = f.CountFree(g, b)
	d.BgFlags &^= disk.BgBlockUninit
	if f.Super.MetadataCsum() {
		d.BgBlockBitmapCsum = disk.Csum32(f.CrcTab, f.CsumSeed, b[:f.Super.SClustersPerGroup/8])
		if f.Super.DescSize() < disk.MinDescSize64 {
			d.BgBlockBitmapCsum &= 0xFFFF
		}
	}
	return im.write(d.BgBlockBitmap, b)
}

// allClear reports whether bits [0, n) of b are all clear.
func allClear(b []byte, n uint64) bool {
	for i := uint64(0); i < n; i++ {
		if disk.TestBit(b, i) {
			return false
		}
	}
	return true
}

// writeMeta writes the descriptor table and the superblock, with the
// counts summed from the descriptors (clusters, stored as blocks), to their primary places and to
// every backup (ext2fs_flush): backups of the superblock carry their
// group's number in s_block_group_nr. edit, when set, changes the
// superblock's other fields first.
func (im *offImage) writeMeta(edit func(s []byte)) error {
	f := im.f
	sb := f.Super
	bs := uint64(f.BlockSize)
	ds := sb.DescSize()
	var bfree, ifree uint64
	for g := range f.Groups {
		bfree += uint64(f.Groups[g].BgFreeBlocksCount)
		ifree += uint64(f.Groups[g].BgFreeInodesCount)
	}
	bfree <<= f.ClusterBits
	// The descriptor blocks: each descriptor encoded over its old bytes
	// (keeping the fields groupDesc does not hold), slots past the last
	// group zeroed, as mke2fs leaves them.
	nblocks := (uint64(len(f.Groups)) + uint64(f.DescPerBlock) - 1) / uint64(f.DescPerBlock)
	table := make([]byte, bs)
	for nr := uint64(0); nr < nblocks; nr++ {
		primary := f.DescBlock(nr)
		if err := im.read(primary, table); err != nil {
			return err
		}
		for i := uint64(0); i < uint64(f.DescPerBlock); i++ {
			raw := table[i*uint64(ds):][:ds]
			g := nr*uint64(f.DescPerBlock) + i
			if g >= uint64(len(f.Groups)) {
				clear(raw)
				continue
			}
			d := &f.Groups[g]
			disk.EncodeGroupDesc(raw, d, ds)
			if f.HasGroupCsum() {
				d.BgChecksum = f.GroupDescCsum(uint32(g), raw)
				le.PutUint16(raw[disk.OffBgChecksum:], d.BgChecksum)
			}
		}
		for _, blk := range im.descCopies(nr) {
			if err := im.write(blk, table); err != nil {
				return err
			}
		}
	}
	s := im.raw
	if edit != nil {
		edit(s)
	}
	le.PutUint32(s[0x0C:], uint32(bfree))
	le.PutUint32(s[0x10:], uint32(ifree))
	if sb.HasIncompat(disk.Incompat64bit) {
		le.PutUint32(s[0x158:], uint32(bfree>>32))
	}
	sb.SFreeBlocksCount, sb.SFreeInodesCount = bfree, uint32(ifree)
	for g := range uint64(len(f.Groups)) {
		if !sb.HasSuper(g) {
			continue
		}
		le.PutUint16(s[0x5A:], uint16(g)) // s_block_group_nr
		f.SetSuperCsum(s)
		if g == 0 {
			if _, err := im.dev.WriteAt(s, disk.SuperblockOffset); err != nil {
				return abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
			}
			continue
		}
		// A backup starts its group's first block, whatever the block
		// size.
		blk := make([]byte, bs)
		first := f.GroupFirst(uint32(g))
		if err := im.read(first, blk); err != nil {
			return err
		}
		copy(blk, s)
		if err := im.write(first, blk); err != nil {
			return err
		}
	}
	le.PutUint16(s[0x5A:], 0)
	f.SetSuperCsum(s)
	return nil
}

// descCopies lists the blocks holding descriptor block nr: the primary,
// then the backups after each backup superblock (or, with meta_bg, in the
// second and last groups of its meta group).
func (im *offImage) descCopies(nr uint64) []uint64 {
	f := im.f
	sb := f.Super
	out := []uint64{f.DescBlock(nr)}
	if sb.HasIncompat(disk.IncompatMetaBG) && nr >= uint64(sb.SFirstMetaBG) {
		dpb := uint64(f.DescPerBlock)
		for _, g := range []uint64{nr*dpb + 1, nr*dpb + dpb - 1} {
			if g < uint64(len(f.Groups)) {
				blk := f.GroupFirst(uint32(g))
				if sb.HasSuper(g) {
					blk++
				}
				out = append(out, blk)
			}
		}
		return out
	}
	for g := uint64(1); g < uint64(len(f.Groups)); g++ {
		if sb.HasSuper(g) {
			out = append(out, f.GroupFirst(uint32(g))+1+nr)
		}
	}
	return out
}

// Minimize shrinks the unmounted filesystem on dev to the fewest blocks
// that hold everything it uses and leave at least free blocks free (for a
// journal AddJournal adds next, and room to write), moving the blocks of
// files that lie past that end into free blocks below it (relocate.go;
// inodes do not move): it shrinks as far as what is in use allows, and
// leaves the filesystem as it is when that is not at all. It returns the
// new s_blocks_count, to which the caller cuts the image file.
//
// What it does, as resize2fs does when it shrinks (resize/resize2fs.c
// adjust_fs_info, blocks_to_move, block_mover, inode_scan_and_fix,
// free_gdp_blocks, fix_resize_inode):
//
//  1. The end, with moves: past the last group holding an inode in use
//     and as far as it takes for the blocks in use that are not group
//     metadata, the kept groups' metadata and the free blocks to fit
//     (found as below, then tried by a dry run of the moves, which may
//     ask for more: trees that grow, the journal that does not move).
//     The end without moves, when that is not smaller: past the highest
//     block in use that is not a group's
//     superblock, descriptors, reserved GDT blocks, bitmap or inode table
//     (those of the groups cut go with them, wherever flex_bg put them),
//     and past the last group holding an inode in use; then as many more
//     as it takes for free blocks to be free, counting those below the
//     end (the cut groups' bitmaps and inode tables that a flex group's
//     first group held are free after the cut, and AddJournal takes the
//     first free run) and not the kept groups' metadata; a last group
//     smaller than its overhead + 50
//     blocks is made that large (resize2fs drops it instead, as it can
//     move blocks), and every group kept must hold its own bitmaps and
//     inode table.
//  2. The groups past the end are dropped: s_blocks_count,
//     s_inodes_count, s_r_blocks_count (the same share), the free counts;
//     s_overhead_clusters is cleared (the kernel counts it again);
//     sparse_super2 backups in cut groups are dropped.
//  3. The descriptor table gets shorter: with resize_inode the blocks it
//     no longer needs join the reserved GDT blocks (up to a block's worth
//     of addresses, adjust_reserved_gdt_blocks), and the resize inode is
//     rebuilt for them (ext2fs_create_resize_inode); without it they are
//     freed.
//  4. Block bitmaps: the cut groups' bitmaps and inode tables in the kept
//     groups are freed, the freed descriptor blocks too, and the last
//     group's bits past the end are set; the blocks past the end move
//     into the free ones (mover.relocate); then every bitmap, descriptor
//     and superblock copy is written.
//
// A filesystem that is not clean gives EUCLEAN; MMP and
// meta_bg with resize_inode give EOPNOTSUPP.
func Minimize(dev ImageDevice, free uint64) (uint64, error) {
	im, end, moves, err := planMinimize(dev, free)
	if err != nil || end >= im.f.Super.SBlocksCount {
		return end, err
	}
	_, _, err = im.cut(end, moves, false)
	return end, err
}

// MinimizedBlocks is the block count Minimize(dev, free) would give,
// without writing anything: tar2fs sizes the journal by it.
func MinimizedBlocks(dev ImageDevice, free uint64) (uint64, error) {
	_, end, _, err := planMinimize(dev, free)
	return end, err
}

// planMinimize opens the filesystem on dev and finds Minimize's end, and
// whether blocks move to reach it.
func planMinimize(dev ImageDevice, free uint64) (*offImage, uint64, bool, error) {
	im, err := openOffline(dev, "minimize")
	if err != nil {
		return nil, 0, false, err
	}
	f := im.f
	sb := f.Super
	if sb.HasIncompat(disk.IncompatMetaBG) && sb.HasCompat(disk.CompatResizeInode) {
		// e2fsck turns the resize inode off on a meta_bg filesystem.
		return nil, 0, false, abi.Errorf(abi.EOPNOTSUPP, "ext4: minimize: meta_bg with resize_inode is not supported")
	}
	oldBlocks := sb.SBlocksCount
	plan, err := im.minimalEnd(free)
	if err != nil {
		return nil, 0, false, err
	}
	// The end with moves: tried dry first, grown by what did not fit
	// (a tree that grows, free space cut in pieces) until all does.
	end, moves := plan.fixed, false
	for tight, tries := plan.moved, 0; tight < end && tries < 16; tries++ {
		want, grown, err := im.cut(tight, true, true)
		if err != nil {
			return nil, 0, false, err
		}
		if next := plan.settle(max(want, tight), grown); want == 0 && next == tight {
			end, moves = tight, true
			break
		} else {
			tight = max(next, tight+1)
		}
	}
	return im, min(end, oldBlocks), moves, nil
}

// minimalEnd computes Minimize's new block count (step 1), without
// moves and with them.
func (im *offImage) minimalEnd(free uint64) (endPlan, error) {
	f := im.f
	sb := f.Super
	first := uint64(sb.SFirstDataBlock)
	bpg := uint64(sb.SBlocksPerGroup)
	ngroups := uint32(len(f.Groups))
	bb := make([]byte, f.BlockSize)
	mb := make([]byte, f.BlockSize)

	// The last group with an inode in use (the inode bitmaps are
	// trusted: the filesystem is clean).
	inodeGroups := uint32(1)
	for g := ngroups - 1; g > 0; g-- {
		d := &f.Groups[g]
		if d.BgFreeInodesCount < sb.SInodesPerGroup && (!f.HasGroupCsum() || d.BgFlags&disk.BgInodeUninit == 0) {
			inodeGroups = g + 1
			break
		}
	}
	// The blocks in use that are not group metadata (data): how many, and
	// the highest. The metadata of every group, sorted by the group it
	// lies in (with flex_bg, not its own).
	metaIn := make([][]blockRange, ngroups)
	add := func(start, count uint64) {
		for count > 0 && start < sb.SBlocksCount {
			g, bit := f.GroupOfBlock(start)
			k := min(count, f.GroupBlocks(g)-bit)
			metaIn[g] = append(metaIn[g], blockRange{start, k})
			start, count = start+k, count-k
		}
	}
	for g := range f.Groups {
		d := &f.Groups[g]
		add(d.BgBlockBitmap, 1)
		add(d.BgInodeBitmap, 1)
		add(d.BgInodeTable, f.InodeTableBlocks)
	}
	// Bits are clusters: data counts clusters, high is the last block
	// of the highest cluster of data.
	cb := f.ClusterBits
	var data uint64
	high := first
	for g := range ngroups {
		if f.HasGroupCsum() && f.Groups[g].BgFlags&disk.BgBlockUninit != 0 {
			continue // its bitmap is all metadata
		}
		if err := im.read(f.Groups[g].BgBlockBitmap, bb); err != nil {
			return endPlan{}, err
		}
		gfirst := f.GroupFirst(g)
		clear(mb)
		disk.SetBits(mb, 0, f.BaseMetaClusters(g))
		for _, r := range metaIn[g] {
			disk.SetBits(mb, (r.start-gfirst)>>cb, (r.start-gfirst+r.n-1)>>cb+1)
		}
		disk.SetBits(mb, f.GroupClusters(g), uint64(f.BlockSize)*8)
		for i := range bb {
			if x := bb[i] &^ mb[i]; x != 0 {
				data += uint64(bits.OnesCount8(x))
				c := uint64(i)*8 + uint64(7-bits.LeadingZeros8(x))
				high = gfirst + (c+1)<<cb - 1
			}
		}
	}
	// The end: past the data and the inodes' groups, with free blocks
	// free (counting those below the data: the cut groups' tables a
	// flex group's first group held are free after the cut), in whole
	// clusters.
	newFree := func(e, extra uint64) int64 {
		return (int64((e-first)>>cb) - int64(data+extra) - int64(im.metaBetween(first, e))) << cb
	}
	// settle grows end until the free blocks are free (with extra
	// clusters more in use: the trees the moves grow) and every group
	// kept holds its own bitmaps and inode table.
	settle := func(end, extra uint64) uint64 {
		for range 1000 {
			if end >= sb.SBlocksCount {
				return sb.SBlocksCount
			}
			next := end
			if d := int64(free) - newFree(next, extra); d > 0 {
				next += uint64(d)
			}
			next = im.roundEnd(next)
			n := uint32((next - first + bpg - 1) / bpg)
			for g := range min(n, ngroups) {
				d := &f.Groups[g]
				next = max(next, d.BgBlockBitmap+1, d.BgInodeBitmap+1, d.BgInodeTable+f.InodeTableBlocks)
			}
			if next == end {
				return end
			}
			end = next
		}
		return sb.SBlocksCount
	}
	inodeEnd := first + uint64(inodeGroups-1)*bpg + 1
	return endPlan{fixed: settle(max(high+1, inodeEnd), 0), moved: settle(inodeEnd, 0), settle: settle}, nil
}

// endPlan is what minimalEnd found: the end that moves no block, the end
// once the blocks past it are moved (not larger), and the function that
// grows an end to one that holds the free blocks and the groups'
// metadata.
type endPlan struct {
	fixed, moved uint64
	settle       func(end, extra uint64) uint64
}

// newGeometry is what the groups, the descriptor table and the reserved
// GDT blocks would be with end blocks.
func (im *offImage) newGeometry(end uint64) (groups uint32, gdb, rsv uint64) {
	f := im.f
	sb := f.Super
	bpg := uint64(sb.SBlocksPerGroup)
	groups = uint32((end - uint64(sb.SFirstDataBlock) + bpg - 1) / bpg)
	dpb := uint64(f.DescPerBlock)
	gdb = (uint64(groups) + dpb - 1) / dpb
	rsv = uint64(sb.SReservedGdtBlocks)
	if sb.HasCompat(disk.CompatResizeInode) {
		rsv = min(rsv+f.DescBlocks()-gdb, uint64(f.BlockSize/4))
	}
	return groups, gdb, rsv
}

// newBaseMeta is baseMetaBlocks for group g after the cut to groups
// groups with gdb descriptor blocks and rsv reserved GDT blocks: the
// superblock backup and the descriptor table and its reserve, or with
// meta_bg past s_first_meta_bg the meta group's descriptor block.
func (im *offImage) newBaseMeta(g uint64, groups uint32, gdb, rsv uint64) uint64 {
	f := im.f
	sb := f.Super
	n := uint64(0)
	super := im.newHasSuper(g, groups)
	if super {
		n = 1
		if sbBlk := f.SuperBlockNr(); g == 0 && sbBlk > uint64(sb.SFirstDataBlock) {
			n += sbBlk - uint64(sb.SFirstDataBlock) // as baseMetaBlocks
		}
	}
	dpb := uint64(f.DescPerBlock)
	if !sb.HasIncompat(disk.IncompatMetaBG) || g/dpb < uint64(sb.SFirstMetaBG) {
		if super {
			if sb.HasIncompat(disk.IncompatMetaBG) {
				gdb = uint64(sb.SFirstMetaBG)
			}
			n += gdb + rsv
		}
	} else if r := g % dpb; r == 0 || r == 1 || r == dpb-1 {
		n++
	}
	return n
}

// newHasSuper is hasSuper after the cut to groups groups: sparse_super2
// backups in cut groups are dropped, but for one in the last group, which
// moves to the new last group (movesBackup).
func (im *offImage) newHasSuper(g uint64, groups uint32) bool {
	if g == uint64(groups-1) && im.movesBackup(groups) {
		return true
	}
	return g < uint64(groups) && im.f.Super.HasSuper(g)
}

// movesBackup reports whether the cut to groups groups moves the second
// sparse_super2 backup from the old last group to the new one, as
// adjust_fs_info does (when its blocks there are free: cut checks).
func (im *offImage) movesBackup(groups uint32) bool {
	sb := im.f.Super
	return sb.HasCompat(disk.CompatSparseSuper2) && im.origBackup1 == im.origGroups-1 &&
		groups < im.origGroups && groups-1 > 1 && groups-1 != sb.SBackupBGs[0]
}

// roundEnd grows end so that the last group is not smaller than its
// overhead + 50 blocks (adjust_fs_info's rule, which drops such a group:
// here it is grown, as no block may move), nor past a whole group, and
// ends on a cluster (adjust_fs_info rounds the count to clusters, as
// ext2fs_initialize does).
func (im *offImage) roundEnd(end uint64) uint64 {
	f := im.f
	sb := f.Super
	first := uint64(sb.SFirstDataBlock)
	bpg := uint64(sb.SBlocksPerGroup)
	end = first + (end-first+f.ClusterMask())&^f.ClusterMask()
	groups, gdb, rsv := im.newGeometry(end)
	rem := (end - first) % bpg
	if rem == 0 {
		return end
	}
	overhead := 2 + f.InodeTableBlocks
	if im.newHasSuper(uint64(groups-1), groups) {
		overhead += 1 + gdb + rsv
	}
	if groups == 1 {
		end = max(end, first+min(bpg, overhead))
	} else if rem < overhead+50 {
		end += min(bpg, overhead+50) - rem
	}
	return first + (end-first+f.ClusterMask())&^f.ClusterMask()
}

// metaBetween counts the clusters in [lo, hi) that the groups kept with
// hi blocks use for their own superblock backups, descriptors and
// reserved GDT blocks, bitmaps and inode tables (keptMeta); a cluster
// two of them share counts once.
func (im *offImage) metaBetween(lo, hi uint64) uint64 {
	var in []blockRange
	for _, r := range im.keptMeta(hi) {
		if a, b := max(r.start, lo), min(r.start+r.n, hi); a < b {
			in = append(in, blockRange{a, b - a})
		}
	}
	return clustersIn(in, im.f.ClusterBits)
}

// clustersIn counts the clusters of 2^cb blocks that the block ranges rs
// touch, each once.
func clustersIn(rs []blockRange, cb uint32) uint64 {
	type span struct{ first, last uint64 } // clusters
	var cs []span
	for _, r := range rs {
		if r.n > 0 {
			cs = append(cs, span{r.start >> cb, (r.start + r.n - 1) >> cb})
		}
	}
	slices.SortFunc(cs, func(x, y span) int { return cmp.Compare(x.first, y.first) })
	n, next := uint64(0), uint64(0) // next: the first cluster not counted yet
	for _, c := range cs {
		if a := max(c.first, next); c.last >= a {
			n += c.last + 1 - a
			next = c.last + 1
		}
	}
	return n
}

// keptMeta lists the blocks the groups kept with end blocks use for their
// own superblock backups, descriptors and reserved GDT blocks
// (newBaseMeta), bitmaps and inode tables.
func (im *offImage) keptMeta(end uint64) []blockRange {
	f := im.f
	groups, gdb, rsv := im.newGeometry(end)
	out := make([]blockRange, 0, 4*groups)
	for g := range groups {
		if n := im.newBaseMeta(uint64(g), groups, gdb, rsv); n > 0 {
			out = append(out, blockRange{f.GroupFirst(g), n})
		}
		if int(g) < len(f.Groups) {
			d := &f.Groups[g]
			out = append(out, blockRange{d.BgBlockBitmap, 1}, blockRange{d.BgInodeBitmap, 1},
				blockRange{d.BgInodeTable, f.InodeTableBlocks})
		}
	}
	return out
}

// cut shrinks the filesystem to end blocks (steps 2 to 4), first moving
// the blocks of files past the end when moves is set (relocate.go). A dry
// run writes nothing and leaves im as it was: it returns 0 when the
// moves fit, else the end they want at least (mover.wants), and the
// clusters the trees they rebuild grow by.
func (im *offImage) cut(end uint64, moves, dry bool) (uint64, uint64, error) {
	f := im.f
	sb := f.Super
	old := *sb
	oldGroups := f.Groups
	if dry {
		saved := slices.Clone(oldGroups)
		defer func() { *sb, f.Groups = old, saved }()
	}
	groups, gdb, rsv := im.newGeometry(end)
	bs := uint64(f.BlockSize)

	// The bitmaps as they are now, for the groups kept whose bitmap was
	// written (the others are computed again under the new geometry).
	bitmaps := make(map[uint32][]byte)
	oldBase := make([]uint64, groups)
	for g := range groups {
		oldBase[g] = f.BaseMetaBlocks(g)
		if f.HasGroupCsum() && oldGroups[g].BgFlags&disk.BgBlockUninit != 0 {
			continue
		}
		b := make([]byte, bs)
		if err := im.read(oldGroups[g].BgBlockBitmap, b); err != nil {
			return 0, 0, err
		}
		bitmaps[g] = b
	}

	// Step 2: the new geometry.
	newSB := old
	newSB.SBlocksCount = end
	newSB.SInodesCount = groups * sb.SInodesPerGroup
	newSB.SReservedGdtBlocks = uint16(rsv)
	newSB.SOverheadClusters = 0
	if sb.HasCompat(disk.CompatSparseSuper2) {
		for i := range newSB.SBackupBGs {
			if newSB.SBackupBGs[i] >= groups {
				newSB.SBackupBGs[i] = 0
			}
		}
	}
	// resize2fs keeps the reserved share as a percentage, in floating
	// point (adjust_fs_info).
	percent := float64(old.SRBlocksCount) * 100 / float64(old.SBlocksCount)
	newSB.SRBlocksCount = uint64(percent * float64(end) / 100)
	*sb = newSB
	f.Groups = oldGroups[:groups:groups]

	// Step 4: the bitmaps of the kept groups. The cut groups' metadata
	// is cleared, then the clusters of the kept groups' metadata set
	// again (with bigalloc one cluster may hold both).
	kept := im.keptMeta(end)
	inGroup := func(b []byte, g uint32, start, count uint64, set bool) {
		first, n := f.GroupFirst(g), uint64(sb.SBlocksPerGroup)
		for blk := max(start, first); blk < start+count && blk < first+n; blk++ {
			if set {
				disk.SetBit(b, (blk-first)>>f.ClusterBits)
			} else {
				disk.ClearBit(b, (blk-first)>>f.ClusterBits)
			}
		}
	}
	clearIn := func(b []byte, g uint32, start, count uint64) { inGroup(b, g, start, count, false) }
	for g := range groups {
		b, ok := bitmaps[g]
		last := g == groups-1
		if !ok && !last {
			// Still BLOCK_UNINIT: only the count follows the geometry.
			mb := make([]byte, bs)
			f.InitBlockBitmap(g, mb)
			f.Groups[g].BgFreeBlocksCount = f.CountFree(g, mb)
			continue
		}
		if !ok {
			b = make([]byte, bs)
			f.InitBlockBitmap(g, b)
		} else {
			for j := groups; j < uint32(len(oldGroups)); j++ {
				d := &oldGroups[j]
				clearIn(b, g, d.BgBlockBitmap, 1)
				clearIn(b, g, d.BgInodeBitmap, 1)
				clearIn(b, g, d.BgInodeTable, f.InodeTableBlocks)
			}
			// The descriptor blocks and reserved GDT blocks no longer
			// needed (a backup dropped with sparse_super2: all).
			if keep := im.newBaseMeta(uint64(g), groups, gdb, rsv); keep < oldBase[g] {
				clearIn(b, g, f.GroupFirst(g)+keep, oldBase[g]-keep)
			}
			if f.ClusterBits != 0 {
				for _, r := range kept {
					inGroup(b, g, r.start, r.n, true)
				}
			}
		}
		if last && im.movesBackup(groups) {
			// The second sparse_super2 backup moves here when its blocks
			// are free; otherwise it is dropped.
			n := 1 + gdb + rsv
			nc := (n + f.ClusterMask()) >> f.ClusterBits
			if n <= f.GroupBlocks(g) && allClear(b, nc) {
				sb.SBackupBGs[1] = g
				disk.SetBits(b, 0, nc)
			}
		}
		bitmaps[g] = b
	}
	if moves {
		m := im.newMover(end, old.SBlocksCount, bitmaps, dry)
		if err := m.relocate(); err != nil || dry {
			return m.wants(), uint64(max(m.grown, 0)), err
		}
	}
	for g := range groups {
		if b, ok := bitmaps[g]; ok {
			if err := im.putBlockBitmap(g, b); err != nil {
				return 0, 0, err
			}
		}
	}

	// Step 3: the resize inode for the new reserved GDT blocks.
	if sb.HasCompat(disk.CompatResizeInode) {
		if err := im.rebuildResizeInode(gdb, rsv); err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, im.writeMeta(func(s []byte) {
		le.PutUint32(s[0x0:], sb.SInodesCount)
		le.PutUint32(s[0x4:], uint32(end))
		le.PutUint32(s[0x8:], uint32(sb.SRBlocksCount))
		if sb.HasIncompat(disk.Incompat64bit) {
			le.PutUint32(s[0x150:], uint32(end>>32))
			le.PutUint32(s[0x154:], uint32(sb.SRBlocksCount>>32))
		}
		le.PutUint16(s[0xCE:], sb.SReservedGdtBlocks)
		le.PutUint32(s[0x248:], 0)
		le.PutUint32(s[0x24C:], sb.SBackupBGs[0])
		le.PutUint32(s[0x250:], sb.SBackupBGs[1])
	})
}

// The resize inode (inode 7, EXT2_RESIZE_INO; lib/ext2fs/res_gdt.c): a
// block-mapped file whose double indirect block lists the primary
// reserved GDT blocks, each of which is an indirect block listing its own
// copies in the backup groups. e2fsck (check_resize_inode) wants entry
// (gdb+i) % (block size/4) of the double indirect block to be the i-th
// reserved block after the gdb descriptor blocks, and its list to be the
// backup groups in order.
const dindBlockIdx = 13 // EXT2_DIND_BLOCK

// rebuildResizeInode writes the resize inode's double indirect block and
// reserved GDT blocks for gdb descriptor blocks and rsv reserved ones in
// the current geometry, and its i_blocks (fix_resize_inode, then
// ext2fs_create_resize_inode).
func (im *offImage) rebuildResizeInode(gdb, rsv uint64) error {
	f := im.f
	raw, pos, err := im.readInodeRaw(resizeIno)
	if err != nil {
		return err
	}
	dind := uint64(le.Uint32(raw[disk.OffIBlock+4*dindBlockIdx:]))
	if dind < uint64(f.Super.SFirstDataBlock) || dind >= f.Super.SBlocksCount {
		return abi.Errorf(abi.EUCLEAN, "ext4: resize inode: bad double indirect block %d: run e2fsck", dind)
	}
	bs := uint64(f.BlockSize)
	apb := bs / 4
	var backups []uint64
	for g := uint64(1); g < uint64(len(f.Groups)); g++ {
		if f.Super.HasSuper(g) {
			backups = append(backups, g)
		}
	}
	dbuf := make([]byte, bs)
	ibuf := make([]byte, bs)
	nblocks := uint64(1)
	pblk := f.SuperBlockNr() + 1 + gdb
	for i := uint64(0); i < rsv; i, pblk = i+1, pblk+1 {
		le.PutUint32(dbuf[4*((gdb+i)%apb):], uint32(pblk))
		clear(ibuf)
		for k, g := range backups {
			if uint64(k) < apb {
				le.PutUint32(ibuf[4*k:], uint32(pblk+g*uint64(f.Super.SBlocksPerGroup)))
			}
		}
		if err := im.write(pblk, ibuf); err != nil {
			return err
		}
		nblocks += 1 + uint64(len(backups))
	}
	if err := im.write(dind, dbuf); err != nil {
		return err
	}
	// Each block is charged a whole cluster, as ext2fs_iblk_add_blocks
	// does with bigalloc (mke2fs's resize inode on a 4 KiB-block
	// filesystem of 16-block clusters: 190 blocks, 24,320 sectors).
	iblocks := nblocks << f.ClusterBits * (bs / 512)
	le.PutUint32(raw[disk.OffIBlocksLo:], uint32(iblocks))
	le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(iblocks>>32))
	return im.writeInodeRaw(resizeIno, raw, pos)
}

// readInodeRaw reads inode ino's bytes, and returns its byte position.
func (im *offImage) readInodeRaw(ino uint32) ([]byte, int64, error) {
	f := im.f
	ipg := f.Super.SInodesPerGroup
	g, idx := (ino-1)/ipg, uint64((ino-1)%ipg)
	if ino < 1 || int(g) >= len(f.Groups) {
		return nil, 0, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: out of range", ino)
	}
	pos := int64(f.Groups[g].BgInodeTable<<f.BlockBits + idx*uint64(f.InodeSize))
	raw := make([]byte, f.InodeSize)
	if _, err := im.dev.ReadAt(raw, pos); err != nil {
		return nil, 0, abi.Errorf(abi.EIO, "ext4: inode %d: %v", ino, err)
	}
	return raw, pos, nil
}

// writeInodeRaw sets inode ino's checksum and writes it at pos.
func (im *offImage) writeInodeRaw(ino uint32, raw []byte, pos int64) error {
	f := im.f
	extra := f.ExtraIsize(raw)
	hasHi := f.InodeSize > disk.GoodOldInodeSize && disk.OffIChecksumHi+2 <= disk.GoodOldInodeSize+extra
	f.SetInodeCsum(f.InodeCsumSeed(ino, le.Uint32(raw[disk.OffIGeneration:])), raw, hasHi)
	if _, err := im.dev.WriteAt(raw, pos); err != nil {
		return abi.Errorf(abi.EIO, "ext4: inode %d: %v", ino, err)
	}
	return nil
}

// AddJournal gives the unmounted filesystem on dev, which has none, an
// internal journal of blocks blocks (0: DefaultJournalBlocks for its
// size), as tune2fs -j does, in the first free run that holds it.
//
// As ext2fs_add_journal_inode makes it (lib/ext2fs/mkjournal.c): inode 8,
// a regular file of mode 0600 and one link, mapped by extents (with the
// extent feature: up to four in the inode, more in one leaf block) or by
// a block map, its times the superblock's s_wtime (tune2fs takes the
// clock; the image's own time keeps builds reproducible); a version 2
// journal superblock in its first block with no feature set (the kernel
// sets the checksum and 64-bit features at its first mount, as after
// mke2fs), the other blocks zero; then s_journal_inum, s_jnl_blocks (the
// inode's i_block and size, s_jnl_backup_type 1) and has_journal in the
// superblock, and the bitmaps, counts and checksums. Free blocks that
// already read as zero are not written, so that a sparse image stays
// sparse.
//
// EEXIST when the filesystem has a journal; EINVAL for a journal under
// 1024 blocks (JBD2_MIN_JOURNAL_BLOCKS) or a filesystem too small for the
// default one; ENOSPC when no free run holds it (Minimize's free must
// leave room for it).
func AddJournal(dev ImageDevice, blocks uint32) error {
	im, err := openOffline(dev, "add journal")
	if err != nil {
		return err
	}
	f := im.f
	sb := f.Super
	if sb.HasCompat(disk.CompatHasJournal) || sb.SJournalInum != 0 {
		return abi.Errorf(abi.EEXIST, "ext4: add journal: the filesystem has a journal")
	}
	if blocks == 0 {
		if blocks = DefaultJournalBlocks(sb.SBlocksCount); blocks == 0 {
			return abi.Errorf(abi.EINVAL, "ext4: add journal: %d blocks are too few for a journal", sb.SBlocksCount)
		}
	}
	if blocks < jbd2MinJournalBlocks {
		return abi.Errorf(abi.EINVAL, "ext4: add journal: %d blocks: a journal has at least %d", blocks, jbd2MinJournalBlocks)
	}
	raw, pos, err := im.readInodeRaw(journalIno)
	if err != nil {
		return err
	}
	if le.Uint32(raw[disk.OffIBlocksLo:]) != 0 || le.Uint16(raw[disk.OffIBlocksHigh:]) != 0 {
		return abi.Errorf(abi.EEXIST, "ext4: add journal: inode %d is in use", journalIno)
	}
	n := uint64(blocks)
	bs := uint64(f.BlockSize)
	data, iblock, err := im.newSystemFile(journalIno, raw, pos, n, "add journal")
	if err != nil {
		return err
	}
	size := n * bs

	// The journal's blocks: zero, but for its superblock
	// (ext2fs_create_journal_superblock2).
	for _, r := range data {
		if err := im.zeroBlocks(r.start, r.n); err != nil {
			return err
		}
	}
	jsb := make([]byte, bs)
	be := binary.BigEndian
	be.PutUint32(jsb[0x0:], jbd2.MagicNumber)
	be.PutUint32(jsb[0x4:], jbd2.SuperblockV2)
	be.PutUint32(jsb[0xC:], uint32(bs)) // s_blocksize
	be.PutUint32(jsb[0x10:], blocks)    // s_maxlen
	be.PutUint32(jsb[0x14:], 1)         // s_first
	be.PutUint32(jsb[0x18:], 1)         // s_sequence
	copy(jsb[0x30:0x40], sb.SUUID[:])   // s_uuid
	be.PutUint32(jsb[0x40:], 1)         // s_nr_users
	if err := im.write(data[0].start, jsb); err != nil {
		return err
	}
	return im.writeMeta(func(s []byte) {
		le.PutUint32(s[0x5C:], le.Uint32(s[0x5C:])|disk.CompatHasJournal)
		le.PutUint32(s[0xE0:], journalIno) // s_journal_inum
		// s_jnl_blocks: i_block, then i_size_high and i_size.
		copy(s[0x10C:0x10C+disk.IBlockLen], iblock)
		le.PutUint32(s[0x10C+60:], uint32(size>>32))
		le.PutUint32(s[0x10C+64:], uint32(size))
		s[0xFD] = 1 // s_jnl_backup_type: EXT3_JNL_BACKUP_BLOCKS
	})
}

const jbd2MinJournalBlocks = 1024 // JBD2_MIN_JOURNAL_BLOCKS

// newSystemFile gives inode ino (its slot raw, at pos) n blocks of data
// and writes it as a new special file (newSystemInode): the blocks are
// one free run when one holds them all, else the lowest free runs; an
// extent tree needs a leaf block (the first) for more than four extents,
// a block map its indirect blocks. With bigalloc (extents only) every
// piece takes whole clusters, the leaf one of its own, and i_blocks
// counts them whole (ext2fs_iblk_add_blocks); the data's last cluster
// may be mapped in part. It returns the data blocks and the inode's
// i_block; what names the tool in errors.
func (im *offImage) newSystemFile(ino uint32, raw []byte, pos int64, n uint64, what string) ([]blockRange, []byte, error) {
	f := im.f
	sb := f.Super
	bs := uint64(f.BlockSize)
	apb := bs / 4
	extents := sb.HasIncompat(disk.IncompatExtents)
	if !extents && f.ClusterBits != 0 {
		return nil, nil, abi.Errorf(abi.EOPNOTSUPP, "ext4: %s: bigalloc without extents", what)
	}
	var mapBlocks uint64
	if !extents {
		mapBlocks = bmapMetaBlocks(n, apb)
	}
	runs, err := im.freeRuns(n + mapBlocks)
	if err != nil {
		return nil, nil, err
	}
	data := runs // the file's own blocks
	if extents {
		data = firstBlocks(runs, n)
	}
	if extents && len(extentsOf(data)) > disk.ExtentRootMax {
		mapBlocks = 1
		cluster := uint64(1) << f.ClusterBits
		if runs, err = im.freeRuns(cluster + n); err != nil {
			return nil, nil, err
		}
		data = firstBlocks(skipBlocks(runs, cluster), n)
		if len(extentsOf(data)) > f.ExtentBlockMax() {
			return nil, nil, abi.Errorf(abi.ENOSPC, "ext4: %s: the free space is too fragmented for %d blocks", what, n)
		}
	}
	total := uint64(0)
	for _, r := range runs {
		if err := im.markUsed(r.start, r.n); err != nil {
			return nil, nil, err
		}
		total += r.n
	}

	im.newSystemInode(raw, n, total)
	iblock := raw[disk.OffIBlock : disk.OffIBlock+disk.IBlockLen]
	if extents {
		le.PutUint32(raw[disk.OffIFlags:], disk.InodeExtentsFl)
		if mapBlocks == 1 {
			leafBlk := runs[0].start
			leaf := make([]byte, bs)
			putExtents(leaf, f.ExtentBlockMax(), extentsOf(data))
			im.setExtentTail(leaf, ino, 0)
			if err := im.write(leafBlk, leaf); err != nil {
				return nil, nil, err
			}
			root := disk.ExtNode{Blk: 0, B: iblock}
			disk.InitExtentNode(iblock, disk.ExtentRootMax, 1)
			root.SetEntries(1)
			root.PutIdx(0, 0, leafBlk)
		} else {
			putExtents(iblock, disk.ExtentRootMax, extentsOf(data))
		}
	} else {
		if data, err = im.putBlockMap(iblock, runs, n); err != nil {
			return nil, nil, err
		}
	}
	if err := im.writeInodeRaw(ino, raw, pos); err != nil {
		return nil, nil, err
	}
	return data, iblock, nil
}

// newSystemInode fills raw as a new special file of n blocks of data,
// total with its mapping blocks (ext2fs_write_new_inode): a regular file
// of mode 0600 and one link, its times the superblock's s_wtime.
func (im *offImage) newSystemInode(raw []byte, n, total uint64) {
	f := im.f
	bs := uint64(f.BlockSize)
	clear(raw)
	now := le.Uint32(im.raw[0x30:]) // s_wtime
	le.PutUint16(raw[disk.OffIMode:], abi.S_IFREG|0o600)
	le.PutUint16(raw[disk.OffILinksCount:], 1)
	size := n * bs
	le.PutUint32(raw[disk.OffISizeLo:], uint32(size))
	le.PutUint32(raw[disk.OffISizeHigh:], uint32(size>>32))
	iblocks := total * (bs / 512)
	le.PutUint32(raw[disk.OffIBlocksLo:], uint32(iblocks))
	le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(iblocks>>32))
	for _, off := range []int{disk.OffIAtime, disk.OffICtime, disk.OffIMtime} {
		le.PutUint32(raw[off:], now)
	}
	if extra := uint32(f.NewExtraIsize()); extra > 0 {
		le.PutUint16(raw[disk.OffIExtraIsize:], uint16(extra))
		if disk.OffICrtime+4 <= disk.GoodOldInodeSize+extra {
			le.PutUint32(raw[disk.OffICrtime:], now)
		}
	}
}

// extentsOf splits runs into extents of at most extentInitMaxLen blocks,
// numbered from logical block 0.
func extentsOf(runs []blockRange) []disk.Extent {
	var xs []disk.Extent
	l := uint64(0)
	for _, r := range runs {
		for o := uint64(0); o < r.n; o += disk.ExtentInitMaxLen {
			k := min(disk.ExtentInitMaxLen, r.n-o)
			xs = append(xs, disk.Extent{EeBlock: uint32(l), EeLen: uint32(k), EeStart: r.start + o})
			l += k
		}
	}
	return xs
}

// firstBlocks returns the first k blocks of runs.
func firstBlocks(runs []blockRange, k uint64) []blockRange {
	out := []blockRange{}
	for _, r := range runs {
		if k == 0 {
			break
		}
		d := min(k, r.n)
		out = append(out, blockRange{r.start, d})
		k -= d
	}
	return out
}

// skipBlocks returns runs without their first k blocks.
func skipBlocks(runs []blockRange, k uint64) []blockRange {
	out := []blockRange{}
	for _, r := range runs {
		d := min(k, r.n)
		k -= d
		if r.n > d {
			out = append(out, blockRange{r.start + d, r.n - d})
		}
	}
	return out
}

// putExtents writes the leaf node (an extent root of room max, or a leaf
// block) holding xs.
func putExtents(node []byte, max int, xs []disk.Extent) {
	nd := disk.ExtNode{Blk: 0, B: node}
	disk.InitExtentNode(node, max, 0)
	for i, x := range xs {
		nd.PutExtent(i, x)
	}
	nd.SetEntries(len(xs))
}

// bmapMetaBlocks counts the indirect blocks a block map of n blocks needs,
// with apb addresses a block.
func bmapMetaBlocks(n, apb uint64) uint64 {
	ceil := func(a, b uint64) uint64 { return (a + b - 1) / b }
	if n <= disk.NdirBlocks {
		return 0
	}
	n -= disk.NdirBlocks
	m := uint64(1) // the indirect block
	if n <= apb {
		return m
	}
	n -= apb
	if d := min(n, apb*apb); d > 0 { // the double indirect block
		m += 1 + ceil(d, apb)
		n -= d
	}
	if n > 0 { // the triple indirect block
		m += 1 + ceil(n, apb*apb) + ceil(n, apb)
	}
	return m
}

// putBlockMap maps n blocks in i_block (a block map), taking the data
// and indirect blocks from runs in order, an indirect block before the
// blocks it lists (as ext2fs_bmap allocates them); it writes the
// indirect blocks and returns the data blocks as runs.
func (im *offImage) putBlockMap(iblock []byte, runs []blockRange, n uint64) ([]blockRange, error) {
	bs := uint64(im.f.BlockSize)
	apb := bs / 4
	var data []blockRange
	ri, ro := 0, uint64(0)
	next := func() uint64 {
		for ro == runs[ri].n {
			ri, ro = ri+1, 0
		}
		ro++
		return runs[ri].start + ro - 1
	}
	addData := func() uint64 {
		blk := next()
		if k := len(data); k > 0 && data[k-1].start+data[k-1].n == blk {
			data[k-1].n++
		} else {
			data = append(data, blockRange{blk, 1})
		}
		n--
		return blk
	}
	var err error
	// fill writes an indirect block of the given level (1: it lists data
	// blocks) and returns its number.
	var fill func(level int) uint64
	fill = func(level int) uint64 {
		blk := next()
		b := make([]byte, bs)
		for i := uint64(0); i < apb && n > 0; i++ {
			if level == 1 {
				le.PutUint32(b[4*i:], uint32(addData()))
			} else {
				le.PutUint32(b[4*i:], uint32(fill(level-1)))
			}
		}
		if werr := im.write(blk, b); werr != nil && err == nil {
			err = werr
		}
		return blk
	}
	for i := 0; i < disk.NdirBlocks && n > 0; i++ {
		le.PutUint32(iblock[4*i:], uint32(addData()))
	}
	for level := 1; level <= 3 && n > 0; level++ {
		le.PutUint32(iblock[4*(disk.NdirBlocks+level-1):], uint32(fill(level)))
	}
	if n > 0 {
		return nil, abi.Errorf(abi.EFBIG, "ext4: add journal: too many blocks for a block map")
	}
	return data, err
}

// freeRuns returns free clusters for n blocks, as block ranges of whole
// clusters: one run when one holds them all (findFreeRun), else the
// lowest free runs. ENOSPC when too few are free.
func (im *offImage) freeRuns(n uint64) ([]blockRange, error) {
	f := im.f
	cb := f.ClusterBits
	nc := (n + f.ClusterMask()) >> cb
	if start, err := im.findFreeRun(nc); err == nil {
		return []blockRange{{start, nc << cb}}, nil
	}
	b := make([]byte, f.BlockSize)
	var runs []blockRange
	need := nc
	for g := range uint32(len(f.Groups)) {
		if err := im.blockBitmap(g, b); err != nil {
			return nil, err
		}
		first, size := f.GroupFirst(g), f.GroupClusters(g)
		for i := disk.FindZero(b, 0, size); i < size && need > 0; i = disk.FindZero(b, i, size) {
			j := i + 1
			for j < size && !disk.TestBit(b, j) && j-i < need {
				j++
			}
			if k := len(runs); k > 0 && runs[k-1].start+runs[k-1].n == first+i<<cb {
				runs[k-1].n += (j - i) << cb
			} else {
				runs = append(runs, blockRange{first + i<<cb, (j - i) << cb})
			}
			need -= j - i
			i = j
		}
		if need == 0 {
			return runs, nil
		}
	}
	return nil, abi.Errorf(abi.ENOSPC, "ext4: add journal: %d free clusters wanted, %d free", nc, nc-need)
}

// findFreeRun returns the first block of the first run of n free
// clusters, which may span groups. ENOSPC when there is none.
func (im *offImage) findFreeRun(n uint64) (uint64, error) {
	f := im.f
	b := make([]byte, f.BlockSize)
	runStart, runLen := uint64(0), uint64(0)
	for g := range uint32(len(f.Groups)) {
		if err := im.blockBitmap(g, b); err != nil {
			return 0, err
		}
		first, size := f.GroupFirst(g), f.GroupClusters(g)
		for i := uint64(0); i < size; {
			if disk.TestBit(b, i) {
				runLen = 0
				i++
				continue
			}
			j := i + 1
			for j < size && !disk.TestBit(b, j) && runLen+j-i < n {
				j++
			}
			if runLen == 0 {
				runStart = first + i<<f.ClusterBits
			}
			runLen += j - i
			if runLen >= n {
				return runStart, nil
			}
			i = j
		}
	}
	return 0, abi.Errorf(abi.ENOSPC, "ext4: add journal: no run of %d free clusters", n)
}

// markUsed marks the clusters of blocks [start, start+n) used in their
// groups' bitmaps (freeRuns gives whole clusters).
func (im *offImage) markUsed(start, n uint64) error {
	f := im.f
	cb := f.ClusterBits
	b := make([]byte, f.BlockSize)
	for n > 0 {
		g, bit := f.GroupOfBlock(start)
		k := min((n+f.ClusterMask())>>cb, f.GroupClusters(g)-bit)
		if err := im.blockBitmap(g, b); err != nil {
			return err
		}
		for i := bit; i < bit+k; i++ {
			if disk.TestBit(b, i) {
				return abi.Errorf(abi.EUCLEAN, "ext4: block %d: already in use", f.GroupFirst(g)+i<<cb)
			}
			disk.SetBit(b, i)
		}
		if err := im.putBlockBitmap(g, b); err != nil {
			return err
		}
		start += k << cb
		n -= min(n, k<<cb)
	}
	return nil
}

// ZeroUnmapper is implemented by image devices that make a range read as
// zeros by deallocating it (devfile.File's FALLOC_FL_WRITE_ZEROES: a raw
// image file gets a hole), EOPNOTSUPP where the disk cannot.
type ZeroUnmapper interface {
	ZeroUnmap(off, n int64) error
}

// zeroBlocks makes blocks [start, start+n) read as zero: deallocated
// where the device can (ext2fs_zero_blocks2's io_channel_zeroout, which
// punches a regular file's holes), else by writing the blocks that do not
// read as zeros already.
func (im *offImage) zeroBlocks(start, n uint64) error {
	const chunk = 256
	bs := uint64(im.f.BlockSize)
	if z, ok := im.dev.(ZeroUnmapper); ok {
		err := z.ZeroUnmap(int64(start*bs), int64(n*bs))
		if err == nil {
			return nil
		}
		if !errors.Is(err, abi.EOPNOTSUPP) {
			return abi.Errorf(abi.EIO, "ext4: zeroing blocks %d+%d: %v", start, n, err)
		}
	}
	buf := make([]byte, chunk*bs)
	for n > 0 {
		k := min(n, chunk)
		p := buf[:k*bs]
		if _, err := im.dev.ReadAt(p, int64(start*bs)); err != nil {
			return abi.Errorf(abi.EIO, "ext4: blocks %d+%d: %v", start, k, err)
		}
		for i := uint64(0); i < k; i++ {
			blk := p[i*bs : (i+1)*bs]
			if !disk.AllZero(blk) {
				clear(blk)
				if err := im.write(start+i, blk); err != nil {
					return err
				}
			}
		}
		start += k
		n -= k
	}
	return nil
}
