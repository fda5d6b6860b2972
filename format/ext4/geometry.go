package ext4

import "hash/crc32"

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
