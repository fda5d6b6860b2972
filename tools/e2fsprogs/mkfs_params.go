package e2fsprogs

import (
	"math/bits"
	"strings"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// mke2fs's defaults, as Debian's /etc/mke2fs.conf (e2fsprogs 1.47.0)
// gives them, and the size types of misc/mke2fs.c parse_fs_type: a
// device under 3 MiB is "floppy", under 512 MiB "small", under 4 TiB
// "default", under 16 TiB "big", else "huge". The type picks the block
// size (1 KiB for floppy and small, else 4 KiB) and the inode ratio.
const (
	mkfsFloppyMax  = 3 << 20
	mkfsSmallMax   = 512 << 20
	mkfsDefaultMax = 4 << 40
	mkfsBigMax     = 16 << 40

	// mkfsPageSize is the host page size mke2fs rounds a device's block
	// count down to when blocks are smaller (misc/mke2fs.c PRS: a
	// 1 KiB-block filesystem has a multiple of 4 blocks). Linux's
	// x86 and arm64 page size, 4 KiB, for an output independent of
	// the host.
	mkfsPageSize = 4096
)

// mke2fs.conf's [defaults] base_features and [fs_types] features.
const (
	mkfsBaseFeatures = "sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr"
	mkfsExt3Features = "has_journal"
	mkfsExt4Features = "has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize"
)

// MkfsBlocks is the block count mke2fs gives a device of size bytes with
// blocks of blockSize: whole blocks, and whole pages when a block is
// smaller than a page.
func MkfsBlocks(size int64, blockSize uint32) uint64 {
	if size <= 0 || blockSize == 0 {
		return 0
	}
	n := uint64(size) / uint64(blockSize)
	if blockSize < mkfsPageSize {
		n &^= uint64(mkfsPageSize/blockSize) - 1
	}
	return n
}

// mkfsSizeType returns mke2fs.conf's size type for a device of size
// bytes, and its block size and inode ratio.
func mkfsSizeType(size int64) (name string, blockSize, inodeRatio uint32) {
	switch {
	case size < mkfsFloppyMax:
		return "floppy", 1024, 8192
	case size < mkfsSmallMax:
		return "small", 1024, 4096
	case size < mkfsDefaultMax:
		return "default", 4096, 16384
	case size < mkfsBigMax:
		return "big", 4096, 32768
	}
	return "huge", 4096, 65536
}

// DefaultMkfsParams returns mke2fs 1.47's parameters for a filesystem of
// fsType ("ext2", "ext3", "ext4") filling size bytes: the size type of
// mke2fs.conf (floppy, small, default, big, huge) picks the block size
// and inode ratio; the features are mke2fs.conf's base_features and the
// type's features. UUID and HashSeed are left zero for the caller.
func DefaultMkfsParams(size int64, fsType string) (MkfsParams, error) {
	var features string
	switch fsType {
	case "ext2":
		features = mkfsBaseFeatures
	case "ext3":
		features = mkfsBaseFeatures + "," + mkfsExt3Features
	case "ext4":
		features = mkfsBaseFeatures + "," + mkfsExt4Features
	default:
		return MkfsParams{}, abi.Errorf(abi.EINVAL, "ext4: mkfs: unknown filesystem type %q", fsType)
	}
	_, bs, ratio := mkfsSizeType(size)
	p := MkfsParams{
		FsType:          fsType,
		BlockSize:       bs,
		Blocks:          MkfsBlocks(size, bs),
		InodeSize:       256,
		InodeRatio:      max(ratio, bs),
		ReservedPercent: 5,
		FlexBGSize:      16,
	}
	if err := p.SetFeatures(features); err != nil {
		return MkfsParams{}, err
	}
	return p, nil
}

// SetBlockSize changes the block size (mke2fs -b) of parameters made by
// DefaultMkfsParams for a device of size bytes: the block count follows,
// and the inode ratio is at least a block, as mke2fs's.
func (p *MkfsParams) SetBlockSize(size int64, blockSize uint32) error {
	switch blockSize {
	case 1024, 2048, 4096, 65536:
	default:
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid block size %d", blockSize)
	}
	p.BlockSize = blockSize
	p.Blocks = MkfsBlocks(size, blockSize)
	_, _, ratio := mkfsSizeType(size)
	p.InodeRatio = max(ratio, blockSize)
	return nil
}

// mkfsFeature finds a feature by its e2fsprogs name (lib/e2p/feature.c),
// returning which word it is in (0 compat, 1 incompat, 2 ro_compat).
func mkfsFeature(name string) (word int, bit uint32, ok bool) {
	for _, f := range disk.CompatNames {
		if f.Name == name {
			return 0, f.Bit, true
		}
	}
	for _, f := range disk.IncompatNames {
		if f.Name == name {
			return 1, f.Bit, true
		}
	}
	for _, f := range disk.RoCompatNames {
		if f.Name == name {
			return 2, f.Bit, true
		}
	}
	// e2p's other spellings of the same bits.
	switch name {
	case "extents":
		return 1, disk.IncompatExtents, true
	case "gdt_csum":
		return 2, disk.RoCompatGdtCsum, true
	case "journal":
		return 0, disk.CompatHasJournal, true
	}
	return 0, 0, false
}

// SetFeatures edits p's features as mke2fs -O does: a comma-separated
// list of names, each to set, or to clear with a leading '^' ("none"
// clears all).
func (p *MkfsParams) SetFeatures(spec string) error {
	for _, name := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		clear := false
		if name[0] == '^' || name[0] == '-' {
			clear, name = true, name[1:]
		} else if name[0] == '+' {
			name = name[1:]
		}
		if strings.EqualFold(name, "none") || strings.EqualFold(name, "clear") {
			p.Compat, p.Incompat, p.RoCompat = 0, 0, 0
			continue
		}
		word, bit, ok := mkfsFeature(strings.ToLower(name))
		if !ok {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid filesystem option set: %s", spec)
		}
		w := [...]*uint32{&p.Compat, &p.Incompat, &p.RoCompat}[word]
		if clear {
			*w &^= bit
		} else {
			*w |= bit
		}
	}
	return nil
}

// ClusterBytes is the allocation unit Mkfs lays out with p: with
// bigalloc ClusterSize rounded down to a power of two, as mke2fs's PRS
// takes s_log_cluster_size = int_log2(size >> 10), and 16 blocks when
// that is 0 (no -C, or under 2 KiB), ext2fs_initialize's default; else
// the block size.
func (p *MkfsParams) ClusterBytes() uint32 {
	if p.RoCompat&disk.RoCompatBigalloc == 0 {
		return p.BlockSize
	}
	if p.ClusterSize>>10 <= 1 {
		return 16 * p.BlockSize
	}
	return 1024 << (bits.Len32(p.ClusterSize>>10) - 1)
}

// RaiseInodeRatio raises the inode ratio to a cluster, as mke2fs's PRS
// raises its default ratio (not -i's) to EXT2_CLUSTER_SIZE of its
// parameters, in which a -C under 2 KiB is still 1 KiB (ClusterBytes
// then gives 16 blocks, and a filesystem with that many inodes is
// refused as mke2fs refuses it).
func (p *MkfsParams) RaiseInodeRatio() {
	c := p.ClusterBytes()
	if p.RoCompat&disk.RoCompatBigalloc != 0 && p.ClusterSize != 0 && p.ClusterSize>>10 <= 1 {
		c = 1024
	}
	p.InodeRatio = max(p.InodeRatio, c)
}

// HasFeature reports whether the feature of e2fsprogs's name is set.
func (p *MkfsParams) HasFeature(name string) bool {
	word, bit, ok := mkfsFeature(name)
	return ok && [...]uint32{p.Compat, p.Incompat, p.RoCompat}[word]&bit != 0
}

// OverheadBlocks is the metadata Mkfs lays out with p in the groups
// that hold the first blocks blocks (p.Blocks when larger), which a
// filesystem cut to that size by Minimize keeps: each group's bitmaps
// and inode table, and the superblock copies with their descriptor and
// reserved GDT blocks (and meta_bg's descriptor blocks), as in
// s_overhead_clusters; not the journal, the root directory or
// lost+found. With bigalloc it is whole clusters, a cluster two of them
// share counted once (flex_bg packs the bitmaps block by block), in
// blocks, as statfs leaves them out. Minimize shortens the descriptor
// table (step 3), so for a cut filesystem this is an estimate from above
// by the descriptor blocks it frees.
func OverheadBlocks(p MkfsParams, blocks uint64) (uint64, error) {
	p.Compat &^= disk.CompatHasJournal // not counted: no need to lay it out
	l, err := planMkfs(p)
	if err != nil {
		return 0, err
	}
	blocks = max(min(blocks, l.blocks), l.firstData+1)
	meta := []blockRange{{0, l.firstData}}
	for g := uint32(0); g <= l.groupOf(blocks-1); g++ {
		gd := &l.groups[g]
		meta = append(meta, blockRange{gd.blockBitmap, 1}, blockRange{gd.inodeBitmap, 1}, blockRange{gd.inodeTable, l.itb})
		super, _, newDesc := l.superAndBgd(g)
		if super != 0 || (g == 0 && l.hasSuper(0)) {
			meta = append(meta, blockRange{super, 1 + l.oldDescBlocks()})
		}
		if newDesc != 0 {
			meta = append(meta, blockRange{newDesc, 1})
		}
	}
	cb := uint32(bits.TrailingZeros64(l.ratio))
	return clustersIn(meta, cb) << cb, nil
}
