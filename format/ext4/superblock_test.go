package ext4

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// validSuper is a consistent superblock: 1 KiB blocks, 8 groups of 8192
// blocks and 256 inodes.
func validSuper() Superblock {
	return Superblock{
		SLogBlockSize: 0, SLogClusterSize: 0, SBlocksPerGroup: 8192, SClustersPerGroup: 8192,
		SInodesPerGroup: 256, SInodesCount: 8 * 256, SBlocksCount: 65536, SFirstDataBlock: 1,
		SInodeSize: 256, SFirstIno: 11, SRevLevel: 1, SMagic: Ext4SuperMagic,
		SReservedGdtBlocks: 256, SDescSize: 64,
	}
}

// TestSuperblockCheck checks that Check refuses each geometry
// ext4_fill_super refuses, and accepts the limits.
func TestSuperblockCheck(t *testing.T) {
	if s := validSuper(); s.Check() != nil {
		t.Fatal(s.Check())
	}
	for name, c := range map[string]struct {
		mutate func(s *Superblock)
		ok     bool
	}{
		"log block size 7":         {func(s *Superblock) { s.SLogBlockSize, s.SLogClusterSize = 7, 7 }, false},
		"inode size 100":           {func(s *Superblock) { s.SInodeSize = 100 }, false},
		"inode size 384":           {func(s *Superblock) { s.SInodeSize = 384 }, false},
		"inode size 2048":          {func(s *Superblock) { s.SInodeSize = 2048 }, false},
		"first ino 10":             {func(s *Superblock) { s.SFirstIno = 10 }, false},
		"cluster size without it":  {func(s *Superblock) { s.SLogClusterSize = 2 }, false},
		"blocks per group 0":       {func(s *Superblock) { s.SBlocksPerGroup = 0 }, false},
		"blocks per group 8193":    {func(s *Superblock) { s.SBlocksPerGroup = 8193 }, false},
		"inodes per group 0":       {func(s *Superblock) { s.SInodesPerGroup, s.SInodesCount = 0, 0 }, false},
		"first data block 0":       {func(s *Superblock) { s.SFirstDataBlock = 0 }, false},
		"blocks count 1":           {func(s *Superblock) { s.SBlocksCount = 1 }, false},
		"inodes count":             {func(s *Superblock) { s.SInodesCount++ }, false},
		"default hash 6":           {func(s *Superblock) { s.SDefHashVersion = HashSiphash }, false},
		"desc size 48":             {func(s *Superblock) { s.SFeatureIncompat |= Incompat64bit; s.SDescSize = 48 }, false},
		"desc size 1024 in 1 KiB":  {func(s *Superblock) { s.SFeatureIncompat |= Incompat64bit; s.SDescSize = 2048 }, false},
		"checksum type 2":          {func(s *Superblock) { s.SFeatureRoCompat |= RoCompatMetadataCsum; s.SChecksumType = 2 }, false},
		"reserved GDT 257":         {func(s *Superblock) { s.SReservedGdtBlocks = 257 }, false},
		"reserved GDT, revision 0": {func(s *Superblock) { s.SRevLevel, s.SInodeSize, s.SReservedGdtBlocks = 0, 128, 257 }, true},
		"first meta bg 1":          {func(s *Superblock) { s.SFeatureIncompat |= IncompatMetaBG; s.SFirstMetaBG = 1 }, true},
		"first meta bg 2":          {func(s *Superblock) { s.SFeatureIncompat |= IncompatMetaBG; s.SFirstMetaBG = 2 }, false},
		"bigalloc": {func(s *Superblock) {
			s.SFeatureRoCompat |= RoCompatBigalloc
			s.SLogClusterSize = 2
			s.SClustersPerGroup = 2048
		}, true},
		"bigalloc clusters 4096": {func(s *Superblock) {
			s.SFeatureRoCompat |= RoCompatBigalloc
			s.SLogClusterSize = 2
			s.SClustersPerGroup = 4096
		}, false},
		"bigalloc 1k first block 0": {func(s *Superblock) {
			s.SFeatureRoCompat |= RoCompatBigalloc
			s.SLogClusterSize = 2
			s.SClustersPerGroup = 2048
			s.SFirstDataBlock = 0
		}, true},
	} {
		s := validSuper()
		c.mutate(&s)
		if err := s.Check(); (err == nil) != c.ok || err != nil && !errors.Is(err, abi.EINVAL) {
			t.Errorf("%s: %v, want ok %v", name, err, c.ok)
		}
	}
}

// TestInitBlockBitmapOverflow gives InitBlockBitmap more base metadata
// than a bitmap has bits (an unchecked reserve): every bit is set, no
// write beyond the bitmap.
func TestInitBlockBitmapOverflow(t *testing.T) {
	s := validSuper()
	s.SReservedGdtBlocks = 65535
	g := NewGeometry(&s)
	g.Groups = make([]GroupDesc, s.GroupCount())
	b := make([]byte, g.BlockSize)
	g.InitBlockBitmap(0, b)
	for i, c := range b {
		if c != 0xFF {
			t.Fatalf("byte %d: %#x", i, c)
		}
	}
	if g.CountFree(0, b) != 0 {
		t.Errorf("CountFree %d", g.CountFree(0, b))
	}
}
