package ext4

import (
	"hash/crc32"
	"math/bits"
)

// Geometry is a filesystem's layout as every reader derives it from the
// superblock and the group descriptors: the computed fields of Linux's
// struct ext4_sb_info and of e2fsprogs' ext2_filsys. The driver's mount and
// the userspace tools both hold one.
type Geometry struct {
	Super     *Superblock
	BlockSize uint32
	// BlockBits is log2(BlockSize).
	BlockBits uint32
	// ClusterBits is log2 of the blocks per cluster: s_log_cluster_size
	// less s_log_block_size with bigalloc, 0 without.
	ClusterBits      uint32
	Groups           []GroupDesc
	DescPerBlock     uint32
	InodeSize        uint32
	InodeTableBlocks uint64
	CrcTab           *crc32.Table
	CsumSeed         uint32 // s_csum_seed: crc32c(~0, uuid) or s_checksum_seed
}

// NewGeometry derives the layout from a superblock that DecodeSuperblock
// checked (so that the shifts and divisions below are in range); the
// group descriptors are the reader's to load into Groups.
func NewGeometry(sb *Superblock) Geometry {
	g := Geometry{
		Super:     sb,
		BlockSize: sb.BlockSize(),
		BlockBits: 10 + sb.SLogBlockSize,
		InodeSize: uint32(sb.SInodeSize),
	}
	if sb.HasRoCompat(RoCompatBigalloc) {
		g.ClusterBits = sb.SLogClusterSize - sb.SLogBlockSize
	}
	g.DescPerBlock = g.BlockSize / sb.DescSize()
	g.InodeTableBlocks = (uint64(sb.SInodesPerGroup)*uint64(g.InodeSize) + uint64(g.BlockSize) - 1) / uint64(g.BlockSize)
	g.SetCsumSeed()
	return g
}

// SetCsumSeed sets the checksum table and seed (s_csum_seed) from the
// superblock, when it has metadata_csum: s_checksum_seed with
// metadata_csum_seed, else the crc32c of the UUID.
func (g *Geometry) SetCsumSeed() {
	sb := g.Super
	if !sb.MetadataCsum() {
		return
	}
	if g.CrcTab == nil {
		g.CrcTab = crc32.MakeTable(crc32.Castagnoli)
	}
	if sb.HasIncompat(IncompatCsumSeed) {
		g.CsumSeed = sb.SChecksumSeed
	} else {
		g.CsumSeed = Csum32(g.CrcTab, ^uint32(0), sb.SUUID[:])
	}
}

// GroupOfBlock returns the group of block blk and its bit in the group's
// bitmap (its cluster's, with bigalloc: EXT4_B2C of the offset).
func (fs *Geometry) GroupOfBlock(blk uint64) (uint32, uint64) {
	r := blk - uint64(fs.Super.SFirstDataBlock)
	return uint32(r / uint64(fs.Super.SBlocksPerGroup)), r % uint64(fs.Super.SBlocksPerGroup) >> fs.ClusterBits
}

// ClusterMask is the mask of a block's offset in its cluster
// (EXT4_CLUSTER_MASK): 0 without bigalloc.
func (fs *Geometry) ClusterMask() uint64 { return 1<<fs.ClusterBits - 1 }

// ClusterSectors is what one cluster counts in i_blocks (512-byte units).
func (fs *Geometry) ClusterSectors() int64 { return int64(1) << (fs.BlockBits - 9 + fs.ClusterBits) }

// GroupFirst is the first block of group g.
func (fs *Geometry) GroupFirst(g uint32) uint64 {
	return uint64(fs.Super.SFirstDataBlock) + uint64(g)*uint64(fs.Super.SBlocksPerGroup)
}

// GroupBlocks is the number of blocks in group g (the last one may be
// short).
func (fs *Geometry) GroupBlocks(g uint32) uint64 {
	return min(uint64(fs.Super.SBlocksPerGroup), fs.Super.SBlocksCount-fs.GroupFirst(g))
}

// GroupClusters is the number of bits of group g's block bitmap that
// stand for clusters (ext4_num_clusters_in_group: EXT4_NUM_B2C of its
// blocks); the others are set.
func (fs *Geometry) GroupClusters(g uint32) uint64 {
	return (fs.GroupBlocks(g) + fs.ClusterMask()) >> fs.ClusterBits
}

// HasGroupCsum reports whether descriptors carry checksums and the
// uninit flags mean anything (ext4_has_group_desc_csum).
func (fs *Geometry) HasGroupCsum() bool {
	return fs.Super.MetadataCsum() || fs.Super.HasRoCompat(RoCompatGdtCsum)
}

// FlexSize is the number of groups in a flex group (1 without flex_bg).
func (fs *Geometry) FlexSize() uint32 {
	if !fs.Super.HasIncompat(IncompatFlexBG) || fs.Super.SLogGroupsPerFlex > 31 {
		return 1
	}
	return 1 << fs.Super.SLogGroupsPerFlex
}

// BaseMetaBlocks counts the blocks at the start of group g that hold the
// superblock backup, the descriptor table and its reserve, or a meta_bg
// descriptor block (ext4_num_base_meta_blocks).
func (fs *Geometry) BaseMetaBlocks(g uint32) uint64 {
	sb := fs.Super
	n := uint64(0)
	super := sb.HasSuper(uint64(g))
	if super {
		n = 1
		if sbBlk := uint64(SuperblockOffset >> fs.BlockBits); g == 0 && sbBlk > uint64(sb.SFirstDataBlock) {
			// With 1 KiB blocks and bigalloc, s_first_data_block is 0
			// and the superblock is block 1: block 0 is the group's too.
			n += sbBlk - uint64(sb.SFirstDataBlock)
		}
	}
	dpb := uint64(fs.DescPerBlock)
	if !sb.HasIncompat(IncompatMetaBG) || uint64(g)/dpb < uint64(sb.SFirstMetaBG) {
		if super {
			gdb := (uint64(len(fs.Groups)) + dpb - 1) / dpb
			if sb.HasIncompat(IncompatMetaBG) {
				gdb = uint64(sb.SFirstMetaBG)
			}
			n += gdb + uint64(sb.SReservedGdtBlocks)
		}
	} else if r := uint64(g) % dpb; r == 0 || r == 1 || r == dpb-1 {
		n++
	}
	return n
}

// BaseMetaClusters is baseMetaBlocks in clusters
// (ext4_num_base_meta_clusters: EXT4_NUM_B2C).
func (fs *Geometry) BaseMetaClusters(g uint32) uint64 {
	return (fs.BaseMetaBlocks(g) + fs.ClusterMask()) >> fs.ClusterBits
}

// InitBlockBitmap computes the block bitmap of a BLOCK_UNINIT group into b
// (ext4_init_block_bitmap): the base metadata at the group's start, every
// group's bitmaps and inode table that lie in it (with flex_bg they are
// packed into the first groups of a flex group), and the bits past the
// group's last cluster.
func (fs *Geometry) InitBlockBitmap(g uint32, b []byte) {
	clear(b)
	// A damaged superblock (a descriptor table longer than a group)
	// can give more base metadata than the bitmap has bits: Linux's
	// ext4_init_block_bitmap refuses the group (EFSCORRUPTED); here
	// every bit is set, which makes the group full just as well.
	SetBits(b, 0, min(fs.BaseMetaClusters(g), uint64(len(b))*8))
	first, n := fs.GroupFirst(g), fs.GroupBlocks(g)
	mark := func(start, count uint64) {
		// Only the part inside this group: walking every block of every
		// group's inode table made each call O(groups * table blocks).
		for blk := max(start, first); blk < min(start+count, first+n); blk++ {
			SetBit(b, (blk-first)>>fs.ClusterBits)
		}
	}
	for i := range fs.Groups {
		d := &fs.Groups[i]
		mark(d.BgBlockBitmap, 1)
		mark(d.BgInodeBitmap, 1)
		mark(d.BgInodeTable, fs.InodeTableBlocks)
	}
	SetBits(b, fs.GroupClusters(g), uint64(fs.BlockSize)*8)
}

// CountFree counts the clear bits among group g's clusters in b.
func (fs *Geometry) CountFree(g uint32, b []byte) uint32 {
	n := fs.GroupClusters(g)
	used := 0
	for _, c := range b[:n>>3] {
		used += bits.OnesCount8(c)
	}
	for i := n &^ 7; i < n; i++ {
		if TestBit(b, i) {
			used++
		}
	}
	return uint32(n) - uint32(used)
}

// SuperBlockNr is the block holding the primary superblock.
func (fs *Geometry) SuperBlockNr() uint64 { return SuperblockOffset >> fs.BlockBits }

// DescBlocks is the number of blocks of the descriptor table (without
// meta_bg; with it, the blocks before s_first_meta_bg).
func (fs *Geometry) DescBlocks() uint64 {
	n := (uint64(len(fs.Groups)) + uint64(fs.DescPerBlock) - 1) / uint64(fs.DescPerBlock)
	if fs.Super.HasIncompat(IncompatMetaBG) {
		n = min(n, uint64(fs.Super.SFirstMetaBG))
	}
	return n
}

// ExtentBlockMax is a tree block's room (ext4_ext_space_block).
func (fs *Geometry) ExtentBlockMax() int {
	return int(fs.BlockSize-ExtentHeaderSize) / ExtentEntrySize
}
