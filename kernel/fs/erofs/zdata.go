package erofs

import (
	"github.com/klauspost/compress/zstd"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Compressed reads (fs/erofs/zdata.c and decompressor.c): each extent
// met is mapped, its pcluster read and decoded whole into the mount's
// extent buffer, and the bytes asked for copied out. The next read of the
// same extent (a file read in pieces) finds it decoded.

// maxPcluster is the largest pcluster Linux reads (Z_EROFS_PCLUSTER_MAX_SIZE).
const maxPcluster = 1 << 20

// zextent is the last decoded extent: the file's bytes [la, la+len(data)).
type zextent struct {
	nid  uint64
	la   int64
	data []byte
	in   []byte // the pcluster's bytes, kept for their room
}

// zread fills p from off (within the size) of a compressed file.
func (ip *inode) zread(p []byte, off int64) (int, error) {
	z, err := ip.zinit()
	if err != nil {
		return 0, inodeErr(ip.nid, err)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		m, err := ip.zmapBlocks(z, pos, false)
		if err == nil && (pos < m.la || m.llen <= 0) {
			err = abi.Errorf(abi.EUCLEAN, "erofs: extent [%d, +%d) for byte %d", m.la, m.llen, pos)
		}
		if err != nil {
			return n, inodeErr(ip.nid, err)
		}
		var k int
		switch {
		case m.hole:
			k = int(min(int64(len(p)-n), m.la+m.llen-pos))
			clear(p[n : n+k])
		case m.fragment:
			k, err = ip.readFragment(m.fragOff, p[n:], pos, m.la)
		default:
			k, err = ip.readExtent(z, m, p[n:], pos)
		}
		n += k
		if err != nil {
			return n, inodeErr(ip.nid, err)
		}
	}
	return n, nil
}

// readFragment copies from the packed inode the tail fragment's bytes
// (from fragOff there) from pos (its extent starting at la) to the end
// of p or of the file.
func (ip *inode) readFragment(fragOff uint64, p []byte, pos, la int64) (int, error) {
	packed := ip.f.packed
	if packed == nil {
		return 0, abi.Errorf(abi.EUCLEAN, "erofs: fragment without a packed inode")
	}
	k := min(int64(len(p)), int64(ip.di.Size)-pos)
	from := int64(fragOff) + (pos - la)
	if from < 0 || int64(fragOff) < 0 || from > int64(packed.di.Size) || k > int64(packed.di.Size)-from {
		return 0, abi.Errorf(abi.EUCLEAN, "erofs: fragment at %d+%d beyond the packed inode (%d bytes)", from, k, packed.di.Size)
	}
	return packed.readData(p[:k], from)
}

// readExtent copies the bytes of extent m from pos into p, decoding the
// extent unless it is the one decoded last.
func (ip *inode) readExtent(z *zinfo, m zmap, p []byte, pos int64) (int, error) {
	f := ip.f
	// Each its own cache and lock: a file's extent may need the
	// metabox's (its indexes) and that the packed inode's (a fragment
	// of the metabox), never the other way round.
	zc := &f.zfile
	switch ip {
	case f.metabox:
		zc = &f.zmeta
	case f.packed:
		zc = &f.zpacked
	}
	zc.mu.Lock()
	defer zc.mu.Unlock()
	c := &zc.zextent
	if c.data == nil || c.nid != ip.nid || c.la != m.la || pos >= c.la+int64(len(c.data)) {
		c.data = c.data[:0]
		end := m.la + m.llen
		if !m.exact {
			var err error
			if end, err = ip.extentEnd(z, m); err != nil {
				return 0, err
			}
		}
		if end <= pos || end-m.la > maxExtent {
			return 0, abi.Errorf(abi.EUCLEAN, "erofs: extent [%d, %d) for byte %d", m.la, end, pos)
		}
		if m.plen <= 0 || m.plen > maxPcluster {
			return 0, abi.Errorf(abi.EUCLEAN, "erofs: pcluster of %d bytes", m.plen)
		}
		c.in = grow(c.in, int(m.plen))
		if err := f.readMetaIn(m.meta && ip.mbox, c.in, m.pa, "pcluster"); err != nil {
			return 0, err
		}
		out := grow(c.data, int(end-m.la))
		if err := f.decompress(m, c.in, out); err != nil {
			return 0, err
		}
		c.nid, c.la, c.data = ip.nid, m.la, out
	}
	return copy(p, c.data[pos-c.la:]), nil
}

// grow returns b resized to n bytes, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// decompress decodes the pcluster in into out, the whole extent
// (z_erofs_decompress and z_erofs_transform_plain).
func (f *fsys) decompress(m zmap, in, out []byte) error {
	switch m.alg {
	case disk.CompressionShifted:
		// Stored as is from the extent's start.
		if len(out) > len(in) {
			return abi.Errorf(abi.EUCLEAN, "erofs: plain extent of %d bytes in %d", len(out), len(in))
		}
		copy(out, in)
		return nil
	case disk.CompressionInterlaced:
		// Stored at the extent's offset in the block, wrapped: the
		// first bytes up to a block boundary are the pcluster's last.
		if len(out) > len(in) {
			return abi.Errorf(abi.EUCLEAN, "erofs: plain extent of %d bytes in %d", len(out), len(in))
		}
		cur := int(f.bsize - m.la%f.bsize)
		if cur > len(in) {
			return abi.Errorf(abi.EUCLEAN, "erofs: interlaced extent at %d in %d bytes", m.la, len(in))
		}
		n := min(cur, len(out))
		copy(out[:n], in[len(in)-cur:])
		copy(out[n:], in)
		return nil
	case disk.CompressionLZ4:
		src := in
		if f.sb.FeatureIncompat&disk.FeatureIncompatZeroPadding != 0 {
			var err error
			if src, err = disk.SkipZeroPadding(in); err != nil {
				return err
			}
		}
		_, err := disk.DecompressLZ4(src, out, !m.partial)
		return err
	case disk.CompressionDeflate, disk.CompressionZstd, disk.CompressionLZMA:
		// These always come with 0padding.
		src, err := disk.SkipZeroPadding(in)
		if err != nil {
			return err
		}
		switch m.alg {
		case disk.CompressionDeflate:
			return disk.DecompressDeflate(src, out)
		case disk.CompressionLZMA:
			return disk.DecompressMicroLZMA(src, out)
		}
		dec, err := f.zstdDecoder()
		if err != nil {
			return err
		}
		return disk.DecompressZstd(dec, src, out)
	}
	return abi.Errorf(abi.EOPNOTSUPP, "erofs: compression algorithm %d", m.alg)
}

// zstdDecoder returns the mount's zstd decoder, made on first use:
// synchronous, its memory bounded as the largest extent and window an
// image may have need.
func (f *fsys) zstdDecoder() (*zstd.Decoder, error) {
	f.zstdMu.Lock()
	defer f.zstdMu.Unlock()
	if f.zstd == nil {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(2*maxExtent), zstd.WithDecoderMaxWindow(maxPcluster*8))
		if err != nil {
			return nil, abi.Errorf(abi.EIO, "erofs: zstd: %v", err)
		}
		f.zstd = d
	}
	return f.zstd, nil
}
