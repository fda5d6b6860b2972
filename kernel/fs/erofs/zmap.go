package erofs

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Compressed files: the map header read once (z_erofs_fill_inode_lazy),
// lcluster indexes read on demand, and the extent holding a byte found as
// z_erofs_do_map_blocks finds it, then decoded whole (zdata.go).

// zinfo is what the map header and the tail extent tell of a compressed
// file (erofs_inode's z_* fields).
type zinfo struct {
	advise       uint16
	algs         [2]uint8
	lclusterbits uint
	// ztailpacking: the inline tail pcluster's place and size, and the
	// lcluster of its head.
	idataOff  int64
	idataSize int64
	// tailHeadLcn is the lcluster of the tail extent's head (inline or
	// fragment); fragmentOff where the fragment is in the packed inode.
	tailHeadLcn   uint64
	fragmentOff   uint64
	wholeFragment bool
	compact       disk.CompactLayout
	// extents: the file has extent records (disk.AdviseExtents), of
	// recsz bytes from recpos, nextents of them when they say their
	// logical start; for 4-byte records, the start of each lcluster's
	// pcluster (recpa), worked out once.
	extents  bool
	recsz    int
	recpos   int64
	nextents uint64
	recpa    []int64
}

// zinit reads the map header (z_erofs_fill_inode_lazy) once.
func (ip *inode) zinit() (*zinfo, error) {
	ip.zmu.Lock()
	defer ip.zmu.Unlock()
	if ip.z != nil {
		return ip.z, nil
	}
	f := ip.f
	hpos := (ip.inline + 7) &^ 7
	var b [disk.MapHeaderSize]byte
	if err := ip.readMeta(b[:], hpos, "map header"); err != nil {
		return nil, err
	}
	h, err := disk.DecodeMapHeader(b[:])
	if err != nil {
		return nil, err
	}
	z := &zinfo{}
	if f.packed != nil && ip.nid == f.packed.nid && (h.WholeFragment() || h.Advise&disk.AdviseFragmentPcluster != 0) {
		// The packed inode's data in itself: a loop Linux refuses too.
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: the packed inode has a fragment of its own")
	}
	if h.WholeFragment() {
		z.advise = disk.AdviseFragmentPcluster
		z.wholeFragment = true
		z.fragmentOff = h.Raw &^ (1 << 63)
		if f.packed == nil {
			return nil, abi.Errorf(abi.EUCLEAN, "erofs: fragment without a packed inode")
		}
		ip.z = z
		return z, nil
	}
	z.advise = h.Advise
	if ip.di.DataLayout() == disk.InodeCompressedFull && z.advise&disk.AdviseExtents != 0 {
		if err := ip.zinitExtents(z, h, hpos); err != nil {
			return nil, err
		}
		ip.z = z
		return z, nil
	}
	z.algs = [2]uint8{h.AlgorithmType & 15, h.AlgorithmType >> 4}
	for i, a := range z.algs {
		if a >= disk.CompressionMax {
			return nil, abi.Errorf(abi.EOPNOTSUPP, "erofs: unknown HEAD%d format %d", i+1, a)
		}
	}
	z.lclusterbits = f.blkbits + uint(h.ClusterBits&7)
	big := z.advise & (disk.AdviseBigPcluster1 | disk.AdviseBigPcluster2)
	if big != 0 && f.sb.FeatureIncompat&disk.FeatureIncompatBigPcluster == 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: per-inode big pcluster without sb feature")
	}
	if ip.di.DataLayout() == disk.InodeCompressedCompact && big != 0 &&
		big != disk.AdviseBigPcluster1|disk.AdviseBigPcluster2 {
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: big pcluster head1/2 of compact indexes should be consistent")
	}
	// erofs_iblks: the index count is the size in blocks.
	totalidx := (ip.di.Size + uint64(f.bsize) - 1) >> f.blkbits
	z.compact = disk.NewCompactLayout(hpos+disk.MapHeaderSize, totalidx, z.advise)
	if z.advise&disk.AdviseInlinePcluster != 0 {
		z.idataSize = int64(h.IdataSize)
		m, err := ip.zmapBlocks(z, int64(ip.di.Size)-1, true)
		if err != nil {
			return nil, err
		}
		if m.plen == 0 || m.pa%f.bsize+m.plen > f.bsize {
			return nil, abi.Errorf(abi.EUCLEAN, "erofs: invalid tail-packing pclustersize %d", m.plen)
		}
	}
	if z.advise&disk.AdviseFragmentPcluster != 0 {
		if f.packed == nil {
			return nil, abi.Errorf(abi.EUCLEAN, "erofs: fragment without a packed inode")
		}
		z.fragmentOff = uint64(h.FragmentOff)
		if _, err := ip.zmapBlocks(z, int64(ip.di.Size)-1, true); err != nil {
			return nil, err
		}
	}
	ip.z = z
	return z, nil
}

// zinitExtents reads what z_erofs_fill_inode_lazy reads of a file with
// extent records: their size and count, or the lcluster size they are
// laid by; 4-byte records are read once, whole, for their sums.
func (ip *inode) zinitExtents(z *zinfo, h disk.MapHeader, hpos int64) error {
	f := ip.f
	z.extents = true
	z.recsz = disk.ExtentRecSize(z.advise)
	rs := int64(z.recsz)
	z.recpos = (hpos + disk.MapHeaderSize + rs - 1) / rs * rs
	size := int64(ip.di.Size)
	if z.recsz > 8 {
		z.nextents = h.Extents
		if z.nextents > uint64(ip.metaSize())/uint64(z.recsz) {
			return abi.Errorf(abi.EUCLEAN, "erofs: %d extent records", z.nextents)
		}
		return nil
	}
	z.lclusterbits = f.blkbits + uint(h.ClusterBits&15)
	if z.lclusterbits > 30 {
		return abi.Errorf(abi.EUCLEAN, "erofs: lcluster of 2^%d bytes", z.lclusterbits)
	}
	n := (size + 1<<z.lclusterbits - 1) >> z.lclusterbits
	if z.recsz == 8 {
		return nil
	}
	// A u64 start, then the lengths one after another.
	if 8+n*4 > ip.metaSize()-z.recpos {
		return abi.Errorf(abi.EUCLEAN, "erofs: %d extent records beyond the metadata", n)
	}
	b := make([]byte, 8+n*4)
	if err := ip.readMeta(b, z.recpos, "extent records"); err != nil {
		return err
	}
	pa := int64(le64(b))
	z.recpa = make([]int64, n)
	for i := range z.recpa {
		z.recpa[i] = pa
		pa += int64(le32(b[8+4*i:]) & disk.ExtentPlenMask)
	}
	return nil
}

// mapExt maps the extent holding byte ofs of a file with extent
// records (z_erofs_map_blocks_ext): records laid by lcluster are found
// by index, others by binary search on their logical start.
func (ip *inode) mapExt(z *zinfo, ofs int64) (zmap, error) {
	f := ip.f
	size := int64(ip.di.Size)
	lend := size
	var lstart int64
	var e disk.Extent
	var last bool
	rec := make([]byte, z.recsz)
	if z.recsz <= 8 {
		bits := z.lclusterbits
		lcn := ofs >> bits
		if z.recsz == 4 {
			if lcn >= int64(len(z.recpa)) {
				return zmap{}, abi.Errorf(abi.EUCLEAN, "erofs: byte %d past the extent records", ofs)
			}
			if err := ip.readMeta(rec, z.recpos+8+lcn*4, "extent record"); err != nil {
				return zmap{}, err
			}
		} else if err := ip.readMeta(rec, z.recpos+lcn*8, "extent record"); err != nil {
			return zmap{}, err
		}
		var err error
		if e, err = disk.DecodeExtent(rec, z.recsz); err != nil {
			return zmap{}, err
		}
		if z.recsz == 4 {
			e.Pstart = uint64(z.recpa[lcn])
		}
		lstart = lcn << bits
		next := lstart + 1<<bits
		last = next >= (size+1<<bits-1)>>bits<<bits
		lend = min(next, lend)
	} else {
		lstart = lend
		l, r := uint64(0), z.nextents
		for l < r {
			mid := l + (r-l)/2
			if err := ip.readMeta(rec, z.recpos+int64(mid)*int64(z.recsz), "extent record"); err != nil {
				return zmap{}, err
			}
			x, err := disk.DecodeExtent(rec, z.recsz)
			if err != nil {
				return zmap{}, err
			}
			la := int64(x.Lstart)
			if x.Lstart > uint64(size) {
				return zmap{}, abi.Errorf(abi.EUCLEAN, "erofs: extent record at %d past the size", x.Lstart)
			}
			if la > ofs {
				r = mid
				if la > lend {
					return zmap{}, abi.Errorf(abi.EUCLEAN, "erofs: extent records out of order")
				}
				lend = la
			} else {
				l = mid + 1
				if la == ofs {
					r = min(l+1, r)
				}
				lstart, e = la, x
			}
		}
		last = l >= z.nextents
	}
	if lstart >= lend || lstart > ofs {
		return zmap{}, abi.Errorf(abi.EUCLEAN, "erofs: no extent record for byte %d", ofs)
	}
	m := zmap{la: lstart, llen: lend - lstart, exact: true}
	plen := e.Plen & disk.ExtentPlenMask
	switch {
	case last && z.advise&disk.AdviseFragmentPcluster != 0:
		m.fragment = true
		m.fragOff = uint64(e.Plen)
		if z.recsz > 4 {
			m.fragOff |= e.Pstart << 32
		}
	case plen == 0:
		m.hole = true
	default:
		m.pa, m.plen = int64(e.Pstart), int64(plen)
		m.partial = e.Plen&disk.ExtentPlenPartial != 0
		if format := int(e.Plen >> disk.ExtentPlenFmtBit); format != 0 {
			m.alg = format - 1
		} else if z.advise&disk.AdviseInterlacedPcluster != 0 && (m.pa|m.plen)&(f.bsize-1) == 0 {
			m.alg = disk.CompressionInterlaced
		} else {
			m.alg = disk.CompressionShifted
		}
		// z_erofs_map_sanity_check.
		if m.alg >= disk.CompressionInterlaced+1 {
			return m, abi.Errorf(abi.EOPNOTSUPP, "erofs: unknown algorithm %d @ pos %d, please upgrade kernel", m.alg, m.la)
		}
		if m.alg < disk.CompressionMax && f.algs()&(1<<m.alg) == 0 {
			return m, abi.Errorf(abi.EUCLEAN, "erofs: inconsistent algorithmtype %d", m.alg)
		}
		if m.plen > maxPcluster || m.llen > maxExtent {
			return m, abi.Errorf(abi.EOPNOTSUPP, "erofs: extent of %d bytes in %d", m.llen, m.plen)
		}
	}
	return m, nil
}

// le32 and le64 read little-endian words.
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// zrec is z_erofs_maprecorder: the lcluster last read.
type zrec struct {
	disk.LclusterIndex
	lcn         uint64
	headtype    uint8
	nextpackoff int64
}

// loadLcluster reads lcluster lcn's index, full or compact
// (z_erofs_load_cluster_from_disk).
func (ip *inode) loadLcluster(z *zinfo, lcn uint64, lookahead bool) (zrec, error) {
	big1 := z.advise&disk.AdviseBigPcluster1 != 0
	r := zrec{lcn: lcn}
	if ip.di.DataLayout() == disk.InodeCompressedFull {
		if lcn >= z.compact.TotalIdx {
			return r, abi.Errorf(abi.EUCLEAN, "erofs: lcluster %d of %d", lcn, z.compact.TotalIdx)
		}
		pos := (ip.inline+7)&^7 + disk.MapHeaderSize + 8 + int64(lcn)*disk.LclusterIndexSize
		var b [disk.LclusterIndexSize]byte
		if err := ip.readMeta(b[:], pos, "lcluster index"); err != nil {
			return r, err
		}
		li, err := disk.DecodeFullIndex(b[:], z.lclusterbits, z.advise&(disk.AdviseBigPcluster1|disk.AdviseBigPcluster2) != 0)
		r.LclusterIndex, r.nextpackoff = li, pos+disk.LclusterIndexSize
		return r, err
	}
	pos, shift, err := z.compact.Pos(lcn)
	if err != nil {
		return r, err
	}
	vcnt, size, err := disk.CompactPack(shift, z.lclusterbits)
	if err != nil {
		return r, err
	}
	base := pos &^ int64(size-1)
	var b [32]byte
	pack := b[:size]
	if err := ip.readMeta(pack, base, "compact lcluster indexes"); err != nil {
		return r, err
	}
	li, err := disk.DecodeCompactIndex(pack, vcnt, int(pos-base)>>shift, z.lclusterbits, big1, lookahead)
	r.LclusterIndex, r.nextpackoff = li, base+int64(size)
	return r, err
}

// zmap is a mapped extent (struct erofs_map_blocks): the logical range
// [la, la+llen) and its pcluster.
type zmap struct {
	la, llen int64
	pa, plen int64
	alg      int
	meta     bool // the pcluster is inline (ztailpacking): pa is a byte offset
	fragment bool // the data is in the packed inode, from fragOff
	fragOff  uint64
	partial  bool
	headLcn  uint64
	// hole: no data, zeros (an extent record's); exact: [la, la+llen)
	// is the whole extent (extent records), not only up to the byte
	// asked for.
	hole, exact bool
}

// zmapBlocks maps the extent holding byte ofs (z_erofs_do_map_blocks);
// findTail records the tail extent's head in z (EROFS_GET_BLOCKS_FINDTAIL).
func (ip *inode) zmapBlocks(z *zinfo, ofs int64, findTail bool) (zmap, error) {
	var m zmap
	if z.extents {
		return ip.mapExt(z, ofs)
	}
	if !findTail && z.advise&disk.AdviseFragmentPcluster != 0 && z.tailHeadLcn == 0 {
		// The tail extent is the whole file: all in the packed inode
		// (z_erofs_map_blocks_iter).
		return zmap{la: 0, llen: int64(ip.di.Size), fragment: true, fragOff: z.fragmentOff}, nil
	}
	bits := z.lclusterbits
	initial := uint64(ofs) >> bits
	endoff := uint32(ofs & (1<<bits - 1))
	r, err := ip.loadLcluster(z, initial, false)
	if err != nil {
		return m, err
	}
	if findTail && z.advise&disk.AdviseInlinePcluster != 0 {
		z.idataOff = r.nextpackoff
	}
	end := int64(r.lcn+1) << bits
	ztail := z.advise&disk.AdviseInlinePcluster != 0
	delta := uint32(0)
	switch r.Type {
	case disk.LclusterTypePlain, disk.LclusterTypeHead1, disk.LclusterTypeHead2:
		if endoff >= r.ClusterOfs {
			r.headtype = r.Type
			m.la = int64(r.lcn)<<bits | int64(r.ClusterOfs)
			if ztail && end > int64(ip.di.Size) {
				end = int64(ip.di.Size)
			}
			break
		}
		if r.lcn == 0 {
			return m, abi.Errorf(abi.EUCLEAN, "erofs: invalid logical cluster 0")
		}
		end = int64(r.lcn)<<bits | int64(r.ClusterOfs)
		delta = 1
		if r, err = ip.lookback(z, r, delta); err != nil {
			return m, err
		}
		m.la = int64(r.lcn)<<bits | int64(r.ClusterOfs)
	case disk.LclusterTypeNonhead:
		if r, err = ip.lookback(z, r, r.Delta[0]); err != nil {
			return m, err
		}
		m.la = int64(r.lcn)<<bits | int64(r.ClusterOfs)
	default:
		return m, abi.Errorf(abi.EOPNOTSUPP, "erofs: unknown lcluster type %d", r.Type)
	}
	m.partial = r.PartialRef
	m.llen = end - m.la
	m.headLcn = r.lcn
	if findTail {
		z.tailHeadLcn = r.lcn
		if z.advise&disk.AdviseFragmentPcluster != 0 && ip.di.DataLayout() == disk.InodeCompressedFull {
			z.fragmentOff |= uint64(r.Pblk) << 32
		}
	}
	switch {
	case ztail && r.lcn == z.tailHeadLcn:
		m.meta = true
		m.pa, m.plen = z.idataOff, z.idataSize
	case z.advise&disk.AdviseFragmentPcluster != 0 && r.lcn == z.tailHeadLcn:
		m.fragment = true
		m.fragOff = z.fragmentOff
	default:
		m.pa = int64(r.Pblk) << ip.f.blkbits
		if m.plen, err = ip.compressedLen(z, r); err != nil {
			return m, err
		}
	}
	if r.headtype == disk.LclusterTypePlain {
		if !m.fragment && m.llen > m.plen {
			return m, abi.Errorf(abi.EUCLEAN, "erofs: plain extent of %d bytes in a pcluster of %d", m.llen, m.plen)
		}
		m.alg = disk.CompressionShifted
		if z.advise&disk.AdviseInterlacedPcluster != 0 {
			m.alg = disk.CompressionInterlaced
		}
	} else if r.headtype == disk.LclusterTypeHead2 {
		m.alg = int(z.algs[1])
	} else {
		m.alg = int(z.algs[0])
	}
	if m.alg < disk.CompressionMax && ip.f.algs()&(1<<m.alg) == 0 {
		return m, abi.Errorf(abi.EUCLEAN, "erofs: inconsistent algorithmtype %d", m.alg)
	}
	return m, nil
}

// algs returns the compression algorithms the image declares
// (available_compr_algs; LZ4 alone without COMPR_CFGS).
func (f *fsys) algs() uint16 {
	if f.sb.FeatureIncompat&disk.FeatureIncompatComprCfgs == 0 {
		return 1 << disk.CompressionLZ4
	}
	return f.sb.AvailableComprAlgs
}

// lookback walks back from r by delta to its extent's head
// (z_erofs_extent_lookback): every step goes back at least one lcluster.
func (ip *inode) lookback(z *zinfo, r zrec, delta uint32) (zrec, error) {
	for uint64(delta) <= r.lcn && delta != 0 {
		nr, err := ip.loadLcluster(z, r.lcn-uint64(delta), false)
		if err != nil {
			return nr, err
		}
		switch nr.Type {
		case disk.LclusterTypeNonhead:
			if nr.Delta[0] == 0 {
				return nr, abi.Errorf(abi.EUCLEAN, "erofs: invalid lookback distance 0")
			}
			delta = nr.Delta[0]
			r = nr
		case disk.LclusterTypePlain, disk.LclusterTypeHead1, disk.LclusterTypeHead2:
			nr.headtype = nr.Type
			return nr, nil
		default:
			return nr, abi.Errorf(abi.EOPNOTSUPP, "erofs: unknown lcluster type %d", nr.Type)
		}
	}
	return r, abi.Errorf(abi.EUCLEAN, "erofs: bogus lookback distance")
}

// compressedLen returns the pcluster's size in bytes
// (z_erofs_get_extent_compressedlen): one lcluster, or with big
// pclusters the block count the next lcluster's CBLKCNT gives.
func (ip *inode) compressedLen(z *zinfo, r zrec) (int64, error) {
	bits := z.lclusterbits
	if r.headtype == disk.LclusterTypePlain ||
		r.headtype == disk.LclusterTypeHead1 && z.advise&disk.AdviseBigPcluster1 == 0 ||
		r.headtype == disk.LclusterTypeHead2 && z.advise&disk.AdviseBigPcluster2 == 0 {
		return 1 << bits, nil
	}
	nr, err := ip.loadLcluster(z, r.lcn+1, false)
	if err != nil {
		return 0, err
	}
	switch nr.Type {
	case disk.LclusterTypePlain, disk.LclusterTypeHead1, disk.LclusterTypeHead2:
		return 1 << bits, nil
	case disk.LclusterTypeNonhead:
		if nr.Delta[0] == 1 && nr.CompressedBlks != 0 {
			return int64(nr.CompressedBlks) << ip.f.blkbits, nil
		}
	}
	return 0, abi.Errorf(abi.EUCLEAN, "erofs: cannot found CBLKCNT @ lcn %d", nr.lcn)
}

// maxExtent is the largest decompressed extent Linux reads
// (Z_EROFS_PCLUSTER_MAX_DSIZE): a bound on what one decode allocates.
const maxExtent = 12 << 20

// extentEnd returns where the extent m ends: the next head's start, or
// the end of the file (z_erofs_get_extent_decompressedlen). It steps by
// each NONHEAD's distance to the next head, at least one lcluster, and
// gives up past maxExtent.
func (ip *inode) extentEnd(z *zinfo, m zmap) (int64, error) {
	bits := z.lclusterbits
	size := int64(ip.di.Size)
	lcn := m.headLcn
	for {
		start := int64(lcn) << bits
		if start >= size {
			return size, nil
		}
		if start-m.la > maxExtent {
			return 0, abi.Errorf(abi.EUCLEAN, "erofs: extent at %d longer than %d bytes", m.la, maxExtent)
		}
		r, err := ip.loadLcluster(z, lcn, true)
		if err != nil {
			return 0, err
		}
		step := uint64(r.Delta[1])
		if r.Type != disk.LclusterTypeNonhead {
			if lcn != m.headLcn {
				end := start + int64(r.ClusterOfs)
				if end <= m.la {
					return 0, abi.Errorf(abi.EUCLEAN, "erofs: extent at %d ends at %d", m.la, end)
				}
				return min(end, size), nil
			}
			step = 1
		}
		if step == 0 {
			return min(start+1<<bits, size), nil
		}
		lcn += step
	}
}
