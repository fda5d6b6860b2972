package archive

import (
	"io"
	"math"
)

// sparseInfo is a sparse file's map as the archive gives it, before the
// Reader checks it.
type sparseInfo struct {
	realsize int64
	regions  []Extent
	// inData says the map opens the entry's data (GNU sparse 1.0).
	inData bool
}

// oldGNUSparse reads the map of an old GNU sparse entry ('S'): the real
// size and up to four regions in the header, more in the extension blocks
// that follow it, each block saying whether another comes (GNU tar's
// src/tar.h, struct oldgnu_header and struct sparse_header). A region
// whose offset field starts with a NUL ends a block's list, as GNU and
// BSD tar read it.
func (tr *Reader) oldGNUSparse() (*sparseInfo, error) {
	realsize, err := tr.numeric(offGNURealsize, lenGNURealsize, "GNU sparse real size")
	if err != nil {
		return nil, err
	}
	sp := &sparseInfo{realsize: realsize}
	take := func(b []byte, n int) error {
		for i := range n {
			e := b[i*2*lenGNUSparseNum:]
			if e[0] == 0 {
				break
			}
			off, err1 := parseNumeric(e[:lenGNUSparseNum])
			length, err2 := parseNumeric(e[lenGNUSparseNum : 2*lenGNUSparseNum])
			if err1 != nil || err2 != nil {
				return tr.formatErr("GNU sparse map: bad region %q", e[:2*lenGNUSparseNum])
			}
			if len(sp.regions) >= maxSparseRegions {
				return tr.formatErr("GNU sparse map: more than %d regions", maxSparseRegions)
			}
			sp.regions = append(sp.regions, Extent{off, length})
		}
		return nil
	}
	if err := take(tr.blk[offGNUSparse:], gnuSparseInHdr); err != nil {
		return nil, err
	}
	extended := tr.blk[offGNUExtended] != 0
	for extended {
		if err := tr.readBlock(); err != nil {
			if err == io.EOF {
				return nil, tr.truncated()
			}
			return nil, err
		}
		if err := take(tr.blk[:], gnuSparseInExt); err != nil {
			return nil, err
		}
		extended = tr.blk[offGNUExtExtend] != 0
	}
	return sp, nil
}

// sparse completes a sparse entry's header from its map: the 1.0 map is
// read from the start of the data first. The regions must be in order,
// not overlap and lie within the real size; empty ones (GNU tar ends its
// maps with one at the file's size) are dropped; together they must hold
// exactly the data the entry stores.
func (tr *Reader) sparse(h *Header, sp *sparseInfo, size int64) error {
	pad := padding(size)
	if sp.inData {
		regions, used, err := tr.sparse10Map(size)
		if err != nil {
			return err
		}
		sp.regions = regions
		size -= used
	}
	if sp.realsize < 0 {
		return tr.formatErr("negative sparse file size")
	}
	out := sp.regions[:0]
	var end, sum int64
	for _, r := range sp.regions {
		if r.Offset < 0 || r.Length < 0 || r.Offset < end || r.Length > math.MaxInt64-r.Offset ||
			r.Offset+r.Length > sp.realsize {
			return tr.formatErr("sparse map: region %d+%d out of order or past the size %d", r.Offset, r.Length, sp.realsize)
		}
		if r.Length == 0 {
			continue
		}
		end = r.Offset + r.Length
		sum += r.Length
		out = append(out, r)
	}
	if sum != size {
		return tr.formatErr("sparse map: the regions hold %d bytes, the entry %d", sum, size)
	}
	h.Size = sp.realsize
	h.Sparse = out
	if h.Sparse == nil {
		h.Sparse = []Extent{}
	}
	tr.remain, tr.skip = size, pad
	return nil
}

// sparse10Map reads the map of a GNU sparse 1.0 entry from the start of
// its size bytes of data: decimal numbers, one a line (the count of
// regions, then each region's offset and length), padded to a block. It
// returns the regions and the bytes the map took.
func (tr *Reader) sparse10Map(size int64) ([]Extent, int64, error) {
	var used int64
	var buf []byte // what is left of the block being read
	next := func() (int64, error) {
		var v int64
		digits := 0
		for {
			if len(buf) == 0 {
				if size-used < blockSize {
					return 0, tr.formatErr("GNU sparse 1.0 map runs past the entry's data")
				}
				if used >= maxMetaSize {
					return 0, tr.formatErr("GNU sparse 1.0 map of more than %d bytes", maxMetaSize)
				}
				if err := tr.readBlock(); err != nil {
					if err == io.EOF {
						return 0, tr.truncated()
					}
					return 0, err
				}
				used += blockSize
				buf = tr.blk[:]
			}
			c := buf[0]
			buf = buf[1:]
			switch {
			case c == '\n' && digits > 0:
				return v, nil
			case c < '0' || c > '9':
				return 0, tr.formatErr("GNU sparse 1.0 map: not a decimal number")
			case v > (math.MaxInt64-9)/10:
				return 0, tr.formatErr("GNU sparse 1.0 map: number out of range")
			}
			v = v*10 + int64(c-'0')
			digits++
		}
	}
	n, err := next()
	if err != nil {
		return nil, 0, err
	}
	if n > maxSparseRegions {
		return nil, 0, tr.formatErr("GNU sparse 1.0 map: %d regions (at most %d)", n, maxSparseRegions)
	}
	var regions []Extent
	for range n {
		off, err := next()
		if err != nil {
			return nil, 0, err
		}
		length, err := next()
		if err != nil {
			return nil, 0, err
		}
		regions = append(regions, Extent{off, length})
	}
	return regions, used, nil
}
