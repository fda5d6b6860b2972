package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/lklimg/lklimg/format/vhd"
)

// VhdFile is a read-only Backend over a VHD image (format/vhd): a fixed
// disk is the file's bytes before its footer; a dynamic disk's blocks are
// found through its block allocation table, each behind its sector
// bitmap, and a block not allocated reads as zeros (as QEMU's vpc reads
// them, the bitmap is not consulted).
type VhdFile struct {
	mapped
	raw   *RawFile
	fixed bool
	block int64    // dynamic: block size in bytes
	bmap  int64    // dynamic: a block's bitmap size in bytes
	bat   []uint32 // dynamic: each block's sector, or vhd.Unallocated
}

// OpenVhd opens the VHD image at path for reading.
func OpenVhd(path string, o ImageOptions) (Backend, error) {
	return openMapped(path, o, "vpc", func(raw *RawFile) (Backend, error) { return newVhd(raw) })
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
	v := &VhdFile{raw: raw}
	v.mapped = mapped{name: "vhd", size: int64(f.Size()) &^ (SectorSize - 1), runAt: v.runAt, closers: []interface{ Close() error }{raw}}
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

// runAt is what the guest bytes from off read as (mapped): a fixed
// disk's bytes, a dynamic disk's block behind its bitmap, or zeros for a
// block not stored.
func (v *VhdFile) runAt(off int64) (run, error) {
	if v.fixed {
		return run{n: v.size - off, from: v.raw, at: off}, nil
	}
	in := off % v.block
	s := v.bat[off/v.block]
	if s == vhd.Unallocated {
		return run{n: v.block - in}, nil
	}
	return run{n: v.block - in, from: v.raw, at: int64(s)*vhd.SectorSize + v.bmap + in}, nil
}
