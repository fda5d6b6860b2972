package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/lklimg/lklimg/format/vhdx"
)

// VhdxFile is a read-only Backend over a VHDX image (format/vhdx): the
// current header (the valid one with the higher sequence number), a
// region table, the metadata (block size, disk size, sector size) and the
// block allocation table; a payload block fully present is read from the
// file, any other reads as zeros. A disk with a log to replay, or a
// differencing disk, is refused.
type VhdxFile struct {
	mapped
	raw   *RawFile
	block int64
	ratio uint64   // chunk ratio: payload blocks per sector bitmap block
	bat   []uint64 // the BAT's entries
}

// OpenVhdx opens the VHDX image at path for reading.
func OpenVhdx(path string, o ImageOptions) (Backend, error) {
	return openMapped(path, o, "vhdx", func(raw *RawFile) (Backend, error) { return newVhdx(raw) })
}

func newVhdx(raw *RawFile) (*VhdxFile, error) {
	st, err := raw.f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	read := func(off, n int64) ([]byte, error) {
		if off < 0 || n < 0 || off > fileSize || n > fileSize-off {
			return nil, fmt.Errorf("%w: %d bytes at %d outside the file", vhdx.ErrCorrupt, n, off)
		}
		b := make([]byte, n)
		return b, raw.ReadAt([][]byte{b}, off)
	}
	// The current header: the valid copy with the higher sequence.
	var h *vhdx.Header
	var herr error
	for _, off := range []int64{vhdx.HeaderOffset1, vhdx.HeaderOffset2} {
		b, err := read(off, vhdx.HeaderSize)
		if err != nil {
			return nil, err
		}
		c, err := vhdx.DecodeHeader(b)
		if err != nil {
			herr = err
			continue
		}
		if h == nil || c.SequenceNumber > h.SequenceNumber {
			h = c
		}
	}
	if h == nil {
		return nil, herr
	}
	if !h.LogEmpty() {
		return nil, fmt.Errorf("%w: a log to replay (the image was not closed cleanly: open it read-write with qemu-img check -r all first)", vhdx.ErrUnsupported)
	}
	// A region table: the first valid copy.
	var regions []vhdx.Region
	for _, off := range []int64{vhdx.RegionTableOffset1, vhdx.RegionTableOffset2} {
		b, err := read(off, vhdx.RegionTableSize)
		if err != nil {
			return nil, err
		}
		if regions, err = vhdx.DecodeRegionTable(b); err == nil {
			break
		}
		herr = err
	}
	if regions == nil {
		return nil, herr
	}
	var batR, metaR *vhdx.Region
	for i := range regions {
		switch regions[i].GUID {
		case vhdx.RegionBAT:
			batR = &regions[i]
		case vhdx.RegionMetadata:
			metaR = &regions[i]
		default:
			if regions[i].Required {
				return nil, fmt.Errorf("%w: a required region it does not know", vhdx.ErrUnsupported)
			}
		}
	}
	if batR == nil || metaR == nil {
		return nil, fmt.Errorf("%w: no BAT or metadata region", vhdx.ErrCorrupt)
	}
	mb, err := read(int64(metaR.FileOffset), int64(metaR.Length))
	if err != nil {
		return nil, err
	}
	m, err := vhdx.DecodeMetadata(mb)
	if err != nil {
		return nil, err
	}
	v := &VhdxFile{raw: raw, block: int64(m.BlockSize), ratio: m.ChunkRatio()}
	v.mapped = mapped{name: "vhdx", size: int64(m.VirtualDiskSize) &^ (SectorSize - 1), runAt: v.runAt, closers: []interface{ Close() error }{raw}}
	blocks := (uint64(v.size) + uint64(v.block) - 1) / uint64(v.block)
	entries := blocks + (blocks-1)/v.ratio
	if blocks == 0 {
		entries = 0
	}
	if entries*8 > uint64(batR.Length) {
		return nil, fmt.Errorf("%w: a BAT of %d bytes for %d blocks", vhdx.ErrCorrupt, batR.Length, blocks)
	}
	tb, err := read(int64(batR.FileOffset), int64(entries*8))
	if err != nil {
		return nil, err
	}
	v.bat = make([]uint64, entries)
	for i := range v.bat {
		v.bat[i] = binary.LittleEndian.Uint64(tb[i*8:])
	}
	return v, nil
}

// maxImageOffset bounds the file offsets a table may give (a BAT entry's
// FileOffsetMB times 1 MiB could pass 2^63): 2^56 bytes.
const maxImageOffset = 1 << 56

// blockAt returns the file offset of payload block bi's data, or -1 when
// it reads as zeros.
func (v *VhdxFile) blockAt(bi int64) (int64, error) {
	i := uint64(bi) + uint64(bi)/v.ratio
	state, off := vhdx.BATEntry(v.bat[i])
	switch state {
	case vhdx.PayloadFullyPresent:
		if off > maxImageOffset {
			return 0, fmt.Errorf("%w: BAT entry %#x: a block at %d", vhdx.ErrCorrupt, v.bat[i], off)
		}
		return int64(off), nil
	case vhdx.PayloadNotPresent, vhdx.PayloadUndefined, vhdx.PayloadZero, vhdx.PayloadUnmapped:
		return -1, nil
	}
	return 0, fmt.Errorf("%w: BAT entry %#x", vhdx.ErrCorrupt, v.bat[i])
}

// runAt is what the guest bytes from off read as (mapped): a present
// block's bytes in the file, or zeros.
func (v *VhdxFile) runAt(off int64) (run, error) {
	in := off % v.block
	at, err := v.blockAt(off / v.block)
	if err != nil || at < 0 {
		return run{n: v.block - in}, err
	}
	return run{n: v.block - in, from: v.raw, at: at + in}, nil
}
