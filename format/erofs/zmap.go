package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Compressed files (EROFS_INODE_COMPRESSED_FULL and _COMPACT). After the
// inode and its xattrs, aligned to 8 bytes, comes the 8-byte map header
// (struct z_erofs_map_header):
//
//	0 h_fragmentoff u32, or h_reserved1 u16 and h_idata_size u16 at 2
//	4 h_advise u16   6 h_algorithmtype u8   7 h_clusterbits u8
//
// then one index per logical cluster (lcluster) of the file. The full
// form (struct z_erofs_lcluster_index, 8 bytes each, after 8 more
// reserved bytes: Z_EROFS_FULL_INDEX_ALIGN) is
//
//	0 di_advise u16 (bits 0-1 the type, bit 15 PARTIAL_REF)
//	2 di_clusterofs u16   4 di_u: blkaddr u32, or delta[2] u16
//
// The compact form packs the same in 4 bytes (2 per pack of 8 bytes) or
// 2 bytes (16 per pack of 32) per lcluster: see DecodeCompactIndex.
const (
	MapHeaderSize     = 8
	LclusterIndexSize = 8

	// h_advise bits (Z_EROFS_ADVISE_*). Bit 0 is COMPACTED_2B for
	// compact indexes; for full ones newer images use it for extent
	// records (Z_EROFS_ADVISE_EXTENTS), which this package does not read.
	AdviseCompacted2B        = 0x1
	AdviseExtents            = 0x1
	AdviseBigPcluster1       = 0x2
	AdviseBigPcluster2       = 0x4
	AdviseInlinePcluster     = 0x8
	AdviseInterlacedPcluster = 0x10
	AdviseFragmentPcluster   = 0x20

	// FragmentInodeBit is h_clusterbits' bit 7: the whole file is in
	// the packed inode (Z_EROFS_FRAGMENT_INODE_BIT).
	FragmentInodeBit = 7

	// lcluster types (Z_EROFS_LCLUSTER_TYPE_*).
	LclusterTypePlain   = 0
	LclusterTypeHead1   = 1
	LclusterTypeNonhead = 2
	LclusterTypeHead2   = 3

	// LiPartialRef marks a HEAD of full indexes whose extent is part of
	// its pcluster's decompressed data (Z_EROFS_LI_PARTIAL_REF).
	LiPartialRef = 1 << 15
	// LiD0Cblkcnt marks, in delta[0] of the first NONHEAD after a head,
	// the pcluster's block count (Z_EROFS_LI_D0_CBLKCNT).
	LiD0Cblkcnt = 1 << 11
)

// Compression algorithms (Z_EROFS_COMPRESSION_*), and the two ways
// uncompressed (PLAIN) pclusters hold their data.
const (
	CompressionLZ4     = 0
	CompressionLZMA    = 1
	CompressionDeflate = 2
	CompressionZstd    = 3
	CompressionMax     = 4

	CompressionShifted    = CompressionMax
	CompressionInterlaced = CompressionMax + 1
)

// Extent records (Z_EROFS_ADVISE_EXTENTS, full-index files of the
// 48-bit layout): instead of lcluster indexes, after the map header
// (aligned to the record size, 4 << h_advise bits 1-2) come records of
// struct z_erofs_extent, cut to that size:
//
//	 0 plen u32 (bits 0-20 the encoded length, 27 PARTIAL_REF, 28-31
//	   the format: 0 stored as is, else the algorithm plus one)
//	 4 pstart_lo u32    8 pstart_hi u32    12 lstart_lo u32
//	16 lstart_hi u32   20 reserved[12]
//
// Records of 4 bytes, one per lcluster, follow a u64 start from which
// their encoded lengths are laid end to end; of 8, one per lcluster with
// its start; of 16 or 32, one per extent with its logical start, as
// many as h_extents_lo and h_extents_hi (the header's bytes 0-3 and 6-7)
// say, searched by binary search (z_erofs_map_blocks_ext). An encoded
// length of 0 is a hole; the last extent of a file with
// AdviseFragmentPcluster is its fragment, plen (and pstart_lo << 32)
// the fragment's offset.
const (
	AdviseExtRecSzBit  = 1
	AdviseExtRecSzMask = 0x3
	ExtentPlenPartial  = 1 << 27
	ExtentPlenFmtBit   = 28
	ExtentPlenMask     = 2<<20 - 1
)

// ExtentRecSize returns the size of one extent record (z_erofs_extent_recsize).
func ExtentRecSize(advise uint16) int {
	return 4 << (advise >> AdviseExtRecSzBit & AdviseExtRecSzMask)
}

// Extent is one decoded extent record; fields past the record's size
// are zero.
type Extent struct {
	Plen   uint32
	Pstart uint64
	Lstart uint64
}

// DecodeExtent decodes the record of size recsz at the start of p.
func DecodeExtent(p []byte, recsz int) (Extent, error) {
	if recsz < 4 || len(p) < recsz {
		return Extent{}, abi.Errorf(abi.EUCLEAN, "erofs: extent record cut at %d bytes", len(p))
	}
	e := Extent{Plen: le.Uint32(p)}
	if recsz >= 8 {
		e.Pstart = uint64(le.Uint32(p[4:]))
	}
	if recsz >= 16 {
		e.Pstart |= uint64(le.Uint32(p[8:])) << 32
		e.Lstart = uint64(le.Uint32(p[12:]))
	}
	if recsz >= 32 {
		e.Lstart |= uint64(le.Uint32(p[16:])) << 32
	}
	return e, nil
}

// MapHeader is struct z_erofs_map_header.
type MapHeader struct {
	// Raw is the whole header as one little-endian u64: with bit 63 set
	// the whole file is a fragment of the packed inode at offset
	// Raw without that bit.
	Raw           uint64
	FragmentOff   uint32
	IdataSize     uint16
	Advise        uint16
	AlgorithmType uint8
	ClusterBits   uint8
	// Extents is h_extents_lo | h_extents_hi << 32, the extent record
	// count of a file with records of 16 bytes or more.
	Extents uint64
}

// DecodeMapHeader decodes the map header at the start of p (8 bytes).
func DecodeMapHeader(p []byte) (MapHeader, error) {
	if len(p) < MapHeaderSize {
		return MapHeader{}, abi.Errorf(abi.EUCLEAN, "erofs: map header cut at %d bytes", len(p))
	}
	return MapHeader{
		Raw:           le.Uint64(p),
		FragmentOff:   le.Uint32(p),
		IdataSize:     le.Uint16(p[2:]),
		Advise:        le.Uint16(p[4:]),
		AlgorithmType: p[6],
		ClusterBits:   p[7],
		Extents:       uint64(le.Uint32(p)) | uint64(le.Uint16(p[6:]))<<32,
	}, nil
}

// WholeFragment reports whether the whole file is in the packed inode.
func (h MapHeader) WholeFragment() bool { return h.ClusterBits>>FragmentInodeBit != 0 }

// LclusterIndex is one logical cluster's index, decoded from either form
// (struct z_erofs_maprecorder's fields).
type LclusterIndex struct {
	Type uint8
	// ClusterOfs is where in a HEAD or PLAIN lcluster its extent starts;
	// a NONHEAD's is the lcluster size.
	ClusterOfs uint32
	// Delta: for a NONHEAD, [0] the distance back to its head, [1]
	// forward to the next head (compact indexes: only when asked).
	Delta [2]uint32
	// Pblk is a head's first block; CompressedBlks a first NONHEAD's
	// block count of its pcluster (D0_CBLKCNT), else 0.
	Pblk           uint32
	CompressedBlks uint32
	PartialRef     bool
}

// DecodeFullIndex decodes the full (8-byte) index at the start of p, as
// legacy_load_cluster_from_disk: a CBLKCNT without a big pcluster, or a
// cluster offset past the lcluster, is EUCLEAN.
func DecodeFullIndex(p []byte, lclusterbits uint, bigPcluster bool) (LclusterIndex, error) {
	if len(p) < LclusterIndexSize {
		return LclusterIndex{}, abi.Errorf(abi.EUCLEAN, "erofs: lcluster index cut at %d bytes", len(p))
	}
	advise := le.Uint16(p)
	m := LclusterIndex{Type: uint8(advise & 3)}
	if m.Type == LclusterTypeNonhead {
		m.ClusterOfs = 1 << lclusterbits
		m.Delta[0] = uint32(le.Uint16(p[4:]))
		if m.Delta[0]&LiD0Cblkcnt != 0 {
			if !bigPcluster {
				return m, abi.Errorf(abi.EUCLEAN, "erofs: CBLKCNT without big pcluster")
			}
			m.CompressedBlks = m.Delta[0] &^ LiD0Cblkcnt
			m.Delta[0] = 1
		}
		m.Delta[1] = uint32(le.Uint16(p[6:]))
		return m, nil
	}
	m.PartialRef = advise&LiPartialRef != 0
	m.ClusterOfs = uint32(le.Uint16(p[2:]))
	if m.ClusterOfs >= 1<<lclusterbits {
		return m, abi.Errorf(abi.EUCLEAN, "erofs: clusterofs %d past the lcluster", m.ClusterOfs)
	}
	m.Pblk = le.Uint32(p[4:])
	return m, nil
}

// CompactLayout is where each lcluster's compact index lies
// (compacted_load_cluster_from_disk): first 4-byte ones up to a 32-byte
// boundary, then with COMPACTED_2B 2-byte ones in packs of 16, then
// 4-byte ones for the rest.
type CompactLayout struct {
	Ebase       int64 // the first index: after the map header
	TotalIdx    uint64
	Initial4B   uint64
	Compacted2B uint64
}

// NewCompactLayout returns the layout of indexes starting at ebase for
// totalidx lclusters (erofs_iblks: the size in blocks) with h_advise.
func NewCompactLayout(ebase int64, totalidx uint64, advise uint16) CompactLayout {
	c := CompactLayout{Ebase: ebase, TotalIdx: totalidx}
	c.Initial4B = uint64((32 - ebase%32) / 4)
	if c.Initial4B == 8 {
		c.Initial4B = 0
	}
	if advise&AdviseCompacted2B != 0 && c.Initial4B < totalidx {
		c.Compacted2B = (totalidx - c.Initial4B) / 16 * 16
	}
	return c
}

// Pos returns the byte position of lcn's compact index and the log2 of
// its size (amortizedshift), or EUCLEAN past the last lcluster.
func (c CompactLayout) Pos(lcn uint64) (int64, uint, error) {
	if lcn >= c.TotalIdx {
		return 0, 0, abi.Errorf(abi.EUCLEAN, "erofs: lcluster %d of %d", lcn, c.TotalIdx)
	}
	pos := c.Ebase
	if lcn < c.Initial4B {
		return pos + int64(lcn)*4, 2, nil
	}
	pos += int64(c.Initial4B) * 4
	lcn -= c.Initial4B
	if lcn < c.Compacted2B {
		return pos + int64(lcn)*2, 1, nil
	}
	pos += int64(c.Compacted2B) * 2
	lcn -= c.Compacted2B
	return pos + int64(lcn)*4, 2, nil
}

// CompactPack returns, for an index of size 1<<amortizedshift, how many
// lclusters a pack holds (vcnt) and the pack's size in bytes, or
// EOPNOTSUPP for a combination Linux does not read: 2-byte indexes only
// for lclusters of 4 KiB or less (their "lo" is 12 bits, CompactLoBits).
func CompactPack(amortizedshift, lclusterbits uint) (vcnt, size int, err error) {
	switch {
	case amortizedshift == 2 && lclusterbits <= 14:
		vcnt = 2
	case amortizedshift == 1 && lclusterbits <= 12:
		vcnt = 16
	default:
		return 0, 0, abi.Errorf(abi.EOPNOTSUPP, "erofs: compact %d-byte indexes of %d-bit lclusters", 1<<amortizedshift, lclusterbits)
	}
	return vcnt, vcnt << amortizedshift, nil
}

// CompactLoBits returns the width of a compact index's "lo" field: the
// lcluster bits, but never fewer than 12, so that a NONHEAD's CBLKCNT
// flag (LiD0Cblkcnt, bit 11) fits lclusters smaller than 4 KiB too
// (z_erofs_load_compact_lcluster: max(lclusterbits, ilog2(CBLKCNT)+1)).
func CompactLoBits(lclusterbits uint) uint { return max(lclusterbits, 12) }

// decodeCompactedBits reads the bit field of lcluster i of a pack: its
// low lobits and the two type bits above them.
func decodeCompactedBits(pack []byte, lobits, pos uint) (lo uint32, typ uint8) {
	var w [4]byte
	copy(w[:], pack[pos/8:])
	v := le.Uint32(w[:]) >> (pos & 7)
	return v & (1<<lobits - 1), uint8(v>>lobits) & 3
}

// DecodeCompactIndex decodes lcluster i of the compact pack (vcnt
// entries, whose last 4 bytes are the pack's base block), as
// unpack_compacted_index: each entry is CompactLoBits of "lo" (a head's
// cluster offset, a NONHEAD's delta[0] or CBLKCNT; the pack's last
// NONHEAD keeps delta[1] there instead) and 2 type bits; a head's block
// is the base plus the blocks of the heads before it in the pack. With
// lookahead, a NONHEAD's delta[1] is worked out too.
func DecodeCompactIndex(pack []byte, vcnt, i int, lclusterbits uint, bigPcluster, lookahead bool) (LclusterIndex, error) {
	if vcnt < 2 || i < 0 || i >= vcnt || len(pack) < 4 {
		return LclusterIndex{}, abi.Errorf(abi.EUCLEAN, "erofs: compact index %d of %d", i, vcnt)
	}
	encodebits := uint((len(pack) - 4) * 8 / vcnt)
	lobits := CompactLoBits(lclusterbits)
	if encodebits < lobits+2 {
		return LclusterIndex{}, abi.Errorf(abi.EUCLEAN, "erofs: compact pack of %d bytes for %d lclusters", len(pack), vcnt)
	}
	lo, typ := decodeCompactedBits(pack, lobits, encodebits*uint(i))
	m := LclusterIndex{Type: typ}
	if typ == LclusterTypeNonhead {
		m.ClusterOfs = 1 << lclusterbits
		if lookahead {
			m.Delta[1] = compactedLookahead(pack, vcnt, i, lobits, encodebits)
		}
		if lo&LiD0Cblkcnt != 0 {
			if !bigPcluster {
				return m, abi.Errorf(abi.EUCLEAN, "erofs: CBLKCNT without big pcluster")
			}
			m.CompressedBlks = lo &^ LiD0Cblkcnt
			m.Delta[0] = 1
			return m, nil
		}
		if i+1 != vcnt {
			m.Delta[0] = lo
			return m, nil
		}
		// The pack's last lcluster keeps delta[1]: delta[0] is the one
		// before's plus one.
		lo, typ = decodeCompactedBits(pack, lobits, encodebits*uint(i-1))
		if typ != LclusterTypeNonhead {
			lo = 0
		} else if lo&LiD0Cblkcnt != 0 {
			lo = 1
		}
		m.Delta[0] = lo + 1
		return m, nil
	}
	m.ClusterOfs = lo
	nblk := uint32(0)
	if !bigPcluster {
		nblk = 1
		for i > 0 {
			i--
			lo, typ = decodeCompactedBits(pack, lobits, encodebits*uint(i))
			if typ == LclusterTypeNonhead {
				i -= int(lo)
			}
			if i >= 0 {
				nblk++
			}
		}
	} else {
		for i > 0 {
			i--
			lo, typ = decodeCompactedBits(pack, lobits, encodebits*uint(i))
			if typ == LclusterTypeNonhead {
				if lo&LiD0Cblkcnt != 0 {
					i--
					nblk += lo &^ LiD0Cblkcnt
					continue
				}
				if lo <= 1 {
					// A big pcluster's plain delta[0] is never 1.
					return m, abi.Errorf(abi.EUCLEAN, "erofs: compact index: delta %d in a big pcluster", lo)
				}
				i -= int(lo) - 2
				continue
			}
			nblk++
		}
	}
	m.Pblk = le.Uint32(pack[len(pack)-4:]) + nblk
	return m, nil
}

// compactedLookahead returns a NONHEAD's distance to the next head
// (get_compacted_la_distance): the NONHEADs after it in the pack, plus
// what the pack's last one keeps when the extent runs on.
func compactedLookahead(pack []byte, vcnt, i int, lobits, encodebits uint) uint32 {
	var lo uint32
	var typ uint8
	d1 := uint32(0)
	for ; i < vcnt; i++ {
		lo, typ = decodeCompactedBits(pack, lobits, encodebits*uint(i))
		if typ != LclusterTypeNonhead {
			return d1
		}
		d1++
	}
	if lo&LiD0Cblkcnt == 0 && lo > 0 {
		d1 += lo - 1
	}
	return d1
}
