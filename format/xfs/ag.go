package xfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The allocation group headers (xfs_format.h), each one sector, after
// the group's superblock: the free space header (struct xfs_agf) in
// sector 1, the inode header (struct xfs_agi) in sector 2. Their
// counters are what Linux sums into the superblock's when it cannot
// trust the superblock's own (xfs_initialize_perag_data).
//
//	xfs_agf:  0 agf_magicnum "XAGF"  4 versionnum  8 seqno  12 length
//	         16 roots[3]  28 levels[3]  40 flfirst  44 fllast
//	         48 flcount  52 freeblks  56 longest  60 btreeblks
//	         64 uuid[16]  80 rmap_blocks  84 refcount_blocks ...
//	        208 lsn  216 crc (le32)
//	xfs_agi:  0 agi_magicnum "XAGI"  4 versionnum  8 seqno  12 length
//	         16 count  20 root  24 level  28 freecount  32 newino
//	         36 dirino  40 unlinked[64]  296 uuid[16]  312 crc (le32)
//	        316 pad  320 lsn  328 free_root ...
const (
	AgfMagic  = 0x58414746 // "XAGF"
	AgiMagic  = 0x58414749 // "XAGI"
	AgfCRCOff = 216
	AgiCRCOff = 312
	agfSize   = 224
	agiSize   = 344
)

// Agf is the part of struct xfs_agf statfs's counters need.
type Agf struct {
	SeqNo     uint32
	Length    uint32
	FlCount   uint32
	FreeBlks  uint32
	Longest   uint32
	BtreeBlks uint32
}

// Agi is the part of struct xfs_agi statfs's counters need, and the
// heads of its unlinked lists (agi_unlinked: 64 hash buckets of agino
// chains through di_next_unlinked, NullAgino ending each).
type Agi struct {
	SeqNo     uint32
	Length    uint32
	Count     uint32
	FreeCount uint32
	Unlinked  [64]uint32
}

// NullAgino ends an unlinked list (NULLAGINO).
const NullAgino = 0xffffffff

// DecodeAgf decodes and checks the AGF of group agno from its sector p
// (xfs_agf_verify: magic, version 1, sequence number, length, counts
// within the group; the checksum on v5).
func DecodeAgf(p []byte, crc bool, agno, agblocks uint32) (*Agf, error) {
	bad := func(f string, args ...any) (*Agf, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: AGF %d: "+f, append([]any{agno}, args...)...)
	}
	if len(p) < agfSize {
		return bad("cut at %d bytes", len(p))
	}
	if m := be.Uint32(p); m != AgfMagic || be.Uint32(p[4:]) != 1 {
		return bad("bad magic 0x%08x or version %d", m, be.Uint32(p[4:]))
	}
	if crc && !VerifyChecksum(p, AgfCRCOff) {
		return bad("bad checksum")
	}
	a := &Agf{
		SeqNo:     be.Uint32(p[8:]),
		Length:    be.Uint32(p[12:]),
		FlCount:   be.Uint32(p[48:]),
		FreeBlks:  be.Uint32(p[52:]),
		Longest:   be.Uint32(p[56:]),
		BtreeBlks: be.Uint32(p[60:]),
	}
	if a.SeqNo != agno || a.Length == 0 || a.Length > agblocks || a.FreeBlks > a.Length ||
		a.FlCount > a.Length || a.Longest > a.FreeBlks || a.BtreeBlks > a.Length {
		return bad("sequence %d, %d blocks, %d free, %d on the free list, %d in btrees", a.SeqNo, a.Length, a.FreeBlks, a.FlCount, a.BtreeBlks)
	}
	return a, nil
}

// DecodeAgi decodes and checks the AGI of group agno from its sector p
// (xfs_agi_verify: magic, version 1, sequence number, length; free
// inodes no more than inodes; the checksum on v5).
func DecodeAgi(p []byte, crc bool, agno, agblocks uint32) (*Agi, error) {
	bad := func(f string, args ...any) (*Agi, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: AGI %d: "+f, append([]any{agno}, args...)...)
	}
	if len(p) < agiSize {
		return bad("cut at %d bytes", len(p))
	}
	if m := be.Uint32(p); m != AgiMagic || be.Uint32(p[4:]) != 1 {
		return bad("bad magic 0x%08x or version %d", m, be.Uint32(p[4:]))
	}
	if crc && !VerifyChecksum(p, AgiCRCOff) {
		return bad("bad checksum")
	}
	a := &Agi{SeqNo: be.Uint32(p[8:]), Length: be.Uint32(p[12:]), Count: be.Uint32(p[16:]), FreeCount: be.Uint32(p[28:])}
	for i := range a.Unlinked {
		a.Unlinked[i] = be.Uint32(p[40+4*i:])
	}
	if a.SeqNo != agno || a.Length == 0 || a.Length > agblocks || a.FreeCount > a.Count {
		return bad("sequence %d, %d blocks, %d inodes, %d free", a.SeqNo, a.Length, a.Count, a.FreeCount)
	}
	return a, nil
}
