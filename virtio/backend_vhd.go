package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lklimg/lklimg/format/vhd"
)

// VhdFile is a read-only Backend over a VHD image (format/vhd): a fixed
// disk is the file's bytes before its footer; a dynamic disk's blocks are
// found through its block allocation table, each behind its sector
// bitmap, and a block not allocated reads as zeros (as QEMU's vpc reads
// them, the bitmap is not consulted).
type VhdFile struct {
	raw   *RawFile
	size  int64
	fixed bool
	block int64    // dynamic: block size in bytes
	bmap  int64    // dynamic: a block's bitmap size in bytes
	bat   []uint32 // dynamic: each block's sector, or vhd.Unallocated
}

// OpenVhd opens the VHD image at path for reading.
func OpenVhd(path string, o ImageOptions) (Backend, error) {
	if !o.ReadOnly || o.Create || o.Truncate || o.Size > 0 {
		return nil, &ImageError{Path: path, Format: format("vpc"), ReadOnly: true, Err: ErrReadOnly}
	}
	raw, err := OpenRawFile(path, RawOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	v, err := newVhd(raw)
	if err != nil {
		raw.Close()
		return nil, &ImageError{Path: path, Format: format("vpc"), Err: err}
	}
	return v, nil
}

func newVhd(raw *RawFile) (*VhdFile, error) {
	st, err := raw.f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	if fileSize < vhd.SectorSize {
		return nil, fmt.Errorf("%w: shorter than its footer", vhd.ErrCorrupt)
	}
	b := make([]byte, vhd.SectorSize)
	// The footer is the last sector; a dynamic disk has a copy in the
	// first, which serves when the last is damaged.
	if err := raw.ReadAt([][]byte{b}, fileSize-vhd.SectorSize); err != nil {
		return nil, err
	}
	f, err := vhd.DecodeFooter(b)
	if err != nil {
		if rerr := raw.ReadAt([][]byte{b}, 0); rerr != nil {
			return nil, rerr
		}
		first, ferr := vhd.DecodeFooter(b)
		if ferr != nil {
			return nil, err
		}
		f = first
	}
	v := &VhdFile{raw: raw, size: int64(f.Size()) &^ (SectorSize - 1)}
	if f.DiskType == vhd.DiskFixed {
		if v.size > fileSize-vhd.SectorSize {
			return nil, fmt.Errorf("%w: a fixed disk of %d bytes in a file of %d", vhd.ErrCorrupt, v.size, fileSize)
		}
		v.fixed = true
		return v, nil
	}
	if f.DataOffset > uint64(fileSize) || uint64(fileSize)-f.DataOffset < 1024 {
		return nil, fmt.Errorf("%w: dynamic header at %d", vhd.ErrCorrupt, f.DataOffset)
	}
	hb := make([]byte, 1024)
	if err := raw.ReadAt([][]byte{hb}, int64(f.DataOffset)); err != nil {
		return nil, err
	}
	h, err := vhd.DecodeDynamicHeader(hb)
	if err != nil {
		return nil, err
	}
	v.block, v.bmap = int64(h.BlockSize), h.BitmapSize()
	if need := (v.size + v.block - 1) / v.block; int64(h.MaxTableEntries) < need {
		return nil, fmt.Errorf("%w: %d table entries for %d blocks", vhd.ErrCorrupt, h.MaxTableEntries, need)
	}
	if h.TableOffset > uint64(fileSize) || uint64(h.MaxTableEntries)*4 > uint64(fileSize)-h.TableOffset {
		return nil, fmt.Errorf("%w: block allocation table at %d", vhd.ErrCorrupt, h.TableOffset)
	}
	tbl := make([]byte, int(h.MaxTableEntries)*4)
	if err := raw.ReadAt([][]byte{tbl}, int64(h.TableOffset)); err != nil {
		return nil, err
	}
	v.bat = make([]uint32, h.MaxTableEntries)
	for i := range v.bat {
		v.bat[i] = binary.BigEndian.Uint32(tbl[i*4:])
	}
	return v, nil
}

// ReadAt implements Backend.
func (v *VhdFile) ReadAt(bufs [][]byte, off int64) error {
	if v.fixed {
		return v.raw.ReadAt(bufs, off)
	}
	var part [][]byte
	for len(bufs) > 0 {
		if off >= v.size {
			for _, b := range bufs {
				clear(b)
			}
			return nil
		}
		bi := off / v.block
		in := off % v.block
		part, bufs = cutBufs(part[:0], bufs, min(v.block-in, v.size-off))
		var got int64
		for _, b := range part {
			got += int64(len(b))
		}
		if s := v.bat[bi]; s == vhd.Unallocated {
			for _, b := range part {
				clear(b)
			}
		} else if err := v.raw.ReadAt(part, int64(s)*vhd.SectorSize+v.bmap+in); err != nil {
			return err
		}
		off += got
	}
	return nil
}

// SendTo implements Sender: a fixed disk's bytes, and a dynamic disk's
// allocated blocks, sent from the file; it stops at a block not stored.
func (v *VhdFile) SendTo(dst Sink, off, n int64) (int64, error) {
	n = max(min(n, v.size-off), 0)
	if v.fixed {
		return v.raw.SendTo(dst, off, n)
	}
	var done int64
	for done < n {
		pos := off + done
		s := v.bat[pos/v.block]
		if s == vhd.Unallocated {
			if done == 0 {
				return 0, fmt.Errorf("virtio: vhd: block at %d not stored: %w", pos, errors.ErrUnsupported)
			}
			return done, nil
		}
		in := pos % v.block
		want := min(v.block-in, n-done)
		k, err := v.raw.SendTo(dst, int64(s)*vhd.SectorSize+v.bmap+in, want)
		done += k
		if err != nil || k < want {
			return done, err
		}
	}
	return done, nil
}

// WriteAt implements Backend: read-only.
func (v *VhdFile) WriteAt(bufs [][]byte, off int64) error { return ErrReadOnly }

// Flush implements Backend: nothing is written.
func (v *VhdFile) Flush() error { return nil }

// Discard implements Backend: read-only.
func (v *VhdFile) Discard(off, n int64) error { return ErrReadOnly }

// WriteZeroes implements Backend: read-only.
func (v *VhdFile) WriteZeroes(off, n int64) error { return ErrReadOnly }

// SeekData implements Backend: all data.
func (v *VhdFile) SeekData(off int64) (int64, error) { return min(off, v.size), nil }

// SeekHole implements Backend: see SeekData.
func (v *VhdFile) SeekHole(off int64) (int64, error) { return v.size, nil }

// Size implements Backend.
func (v *VhdFile) Size() int64 { return v.size }

// ReadOnly implements Backend: always.
func (v *VhdFile) ReadOnly() bool { return true }

// Close implements Backend.
func (v *VhdFile) Close() error { return v.raw.Close() }
