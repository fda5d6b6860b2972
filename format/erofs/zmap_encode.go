package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Encode writes the map header at the start of p (8 bytes):
// DecodeMapHeader's mirror, from its fields (Raw is not read).
func (h MapHeader) Encode(p []byte) {
	_ = p[MapHeaderSize-1]
	le.PutUint32(p, h.FragmentOff)
	if h.FragmentOff == 0 {
		le.PutUint16(p[2:], h.IdataSize)
	}
	le.PutUint16(p[4:], h.Advise)
	p[6] = h.AlgorithmType
	p[7] = h.ClusterBits
}

// MapIndexStart returns where the lcluster indexes of a compressed
// inode begin, from the end of its inode and xattrs (inline, a byte
// offset whose alignment is what matters): the map header aligned to 8
// bytes and, for full indexes, 8 reserved bytes after it.
func MapIndexStart(inline int64, full bool) int64 {
	ebase := (inline+7)&^7 + MapHeaderSize
	if full {
		ebase += 8
	}
	return ebase
}

// EncodeFullIndex writes a full (8-byte) lcluster index at the start of
// p: DecodeFullIndex's mirror. A NONHEAD's CompressedBlks, when set, is
// written as delta[0] with D0_CBLKCNT.
func EncodeFullIndex(p []byte, m LclusterIndex) {
	_ = p[LclusterIndexSize-1]
	advise := uint16(m.Type)
	if m.Type == LclusterTypeNonhead {
		le.PutUint16(p, advise)
		le.PutUint16(p[2:], 0)
		d0 := uint16(m.Delta[0])
		if m.CompressedBlks != 0 {
			d0 = uint16(m.CompressedBlks) | LiD0Cblkcnt
		}
		le.PutUint16(p[4:], d0)
		le.PutUint16(p[6:], uint16(m.Delta[1]))
		return
	}
	if m.PartialRef {
		advise |= LiPartialRef
	}
	le.PutUint16(p, advise)
	le.PutUint16(p[2:], uint16(m.ClusterOfs))
	le.PutUint32(p[4:], m.Pblk)
}

// CompactIndexesSize returns the bytes the compact indexes of totalidx
// lclusters take from ebase: the 4-byte ones before the first 32-byte
// boundary, the 2-byte packs, and the 4-byte ones after, in whole packs.
func CompactIndexesSize(ebase int64, totalidx uint64, advise uint16) int {
	c := NewCompactLayout(ebase, totalidx, advise)
	if c.Initial4B >= totalidx {
		return int((totalidx+1)&^1) * 4
	}
	end := totalidx - c.Initial4B - c.Compacted2B
	return int(c.Initial4B)*4 + int(c.Compacted2B)*2 + int((end+1)&^1)*4
}

// EncodeCompactIndexes writes the compact indexes of idx (one per
// lcluster, in order) into dst (CompactIndexesSize bytes, whose first
// byte lies at ebase), as compacted_load_cluster_from_disk reads them
// back: each pack's entries as bit fields of CompactLoBits "lo" and 2 type
// bits (a head's cluster offset, a NONHEAD's delta[0] or CBLKCNT, the
// pack's last NONHEAD its delta[1]) and, in its last 4 bytes, the base
// its heads' blocks are counted from. Heads' blocks must follow one
// another as DecodeCompactIndex counts them (each pcluster's blocks after
// the one before's); EUCLEAN if a pack cannot say them.
func EncodeCompactIndexes(dst []byte, ebase int64, idx []LclusterIndex, lclusterbits uint, advise uint16) error {
	c := NewCompactLayout(ebase, uint64(len(idx)), advise)
	big := advise&AdviseBigPcluster1 != 0
	clear(dst)
	lcn := 0
	for lcn < len(idx) {
		pos, shift, err := c.Pos(uint64(lcn))
		if err != nil {
			return err
		}
		vcnt, size, err := CompactPack(shift, lclusterbits)
		if err != nil {
			return err
		}
		base := pos &^ int64(size-1)
		first := lcn - int(pos-base)>>shift
		off := base - ebase
		if off < 0 || off+int64(size) > int64(len(dst)) {
			return abi.Errorf(abi.EINVAL, "erofs: compact pack at %d past %d bytes", off, len(dst))
		}
		pack := dst[off : off+int64(size)]
		encodebits := uint((size - 4) * 8 / vcnt)
		lobits := CompactLoBits(lclusterbits)
		head := -1
		for i := range vcnt {
			j := first + i
			if j < 0 || j >= len(idx) {
				continue
			}
			m := idx[j]
			lo := m.ClusterOfs
			if m.Type == LclusterTypeNonhead {
				switch {
				case m.CompressedBlks != 0:
					lo = m.CompressedBlks | LiD0Cblkcnt
				case i+1 == vcnt:
					lo = m.Delta[1]
				default:
					lo = m.Delta[0]
				}
			} else if head < 0 {
				head = i
			}
			if lo >= 1<<lobits {
				return abi.Errorf(abi.EUCLEAN, "erofs: lcluster %d: %d does not fit %d bits", j, lo, lobits)
			}
			putCompactedBits(pack, lobits, encodebits*uint(i), lo, m.Type)
		}
		if head >= 0 {
			got, err := DecodeCompactIndex(pack, vcnt, head, lclusterbits, big, false)
			if err != nil {
				return err
			}
			// The pack's base is zero so far: got.Pblk is the count.
			le.PutUint32(pack[size-4:], idx[first+head].Pblk-got.Pblk)
		}
		lcn = first + vcnt
	}
	return nil
}

// putCompactedBits stores lo and the type at bit pos of a pack
// (decodeCompactedBits's mirror).
func putCompactedBits(pack []byte, lobits, pos uint, lo uint32, typ uint8) {
	v := (lo | uint32(typ)<<lobits) << (pos & 7)
	for k := uint(0); v != 0; k++ {
		pack[pos/8+k] |= byte(v)
		v >>= 8
	}
}
