package virtio

import (
	"encoding/binary"
	"errors"
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
	raw   *RawFile
	size  int64
	block int64
	ratio uint64   // chunk ratio: payload blocks per sector bitmap block
	bat   []uint64 // the BAT's entries
}

// OpenVhdx opens the VHDX image at path for reading.
func OpenVhdx(path string, o ImageOptions) (Backend, error) {
	if !o.ReadOnly || o.Create || o.Truncate || o.Size > 0 {
		return nil, &ImageError{Path: path, Format: format("vhdx"), ReadOnly: true, Err: ErrReadOnly}
	}
	raw, err := OpenRawFile(path, RawOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	v, err := newVhdx(raw)
	if err != nil {
		raw.Close()
		return nil, &ImageError{Path: path, Format: format("vhdx"), Err: err}
	}
	return v, nil
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
	v := &VhdxFile{raw: raw, size: int64(m.VirtualDiskSize) &^ (SectorSize - 1), block: int64(m.BlockSize), ratio: m.ChunkRatio()}
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

// blockAt returns the file offset of payload block bi's data, or -1 when
// it reads as zeros.
func (v *VhdxFile) blockAt(bi int64) (int64, error) {
	i := uint64(bi) + uint64(bi)/v.ratio
	state, off := vhdx.BATEntry(v.bat[i])
	switch state {
	case vhdx.PayloadFullyPresent:
		return int64(off), nil
	case vhdx.PayloadNotPresent, vhdx.PayloadUndefined, vhdx.PayloadZero, vhdx.PayloadUnmapped:
		return -1, nil
	}
	return 0, fmt.Errorf("%w: BAT entry %#x", vhdx.ErrCorrupt, v.bat[i])
}

// ReadAt implements Backend.
func (v *VhdxFile) ReadAt(bufs [][]byte, off int64) error {
	var part [][]byte
	for len(bufs) > 0 {
		if off >= v.size {
			for _, b := range bufs {
				clear(b)
			}
			return nil
		}
		in := off % v.block
		part, bufs = cutBufs(part[:0], bufs, min(v.block-in, v.size-off))
		var got int64
		for _, b := range part {
			got += int64(len(b))
		}
		at, err := v.blockAt(off / v.block)
		if err != nil {
			return err
		}
		if at < 0 {
			for _, b := range part {
				clear(b)
			}
		} else if err := v.raw.ReadAt(part, at+in); err != nil {
			return err
		}
		off += got
	}
	return nil
}

// SendTo implements Sender: present blocks sent from the file; it stops
// at a block that reads as zeros.
func (v *VhdxFile) SendTo(dst Sink, off, n int64) (int64, error) {
	n = max(min(n, v.size-off), 0)
	var done int64
	for done < n {
		pos := off + done
		at, err := v.blockAt(pos / v.block)
		if err != nil {
			return done, err
		}
		if at < 0 {
			if done == 0 {
				return 0, fmt.Errorf("virtio: vhdx: block at %d not stored: %w", pos, errors.ErrUnsupported)
			}
			return done, nil
		}
		in := pos % v.block
		want := min(v.block-in, n-done)
		k, err := v.raw.SendTo(dst, at+in, want)
		done += k
		if err != nil || k < want {
			return done, err
		}
	}
	return done, nil
}

// WriteAt implements Backend: read-only.
func (v *VhdxFile) WriteAt(bufs [][]byte, off int64) error { return ErrReadOnly }

// Flush implements Backend: nothing is written.
func (v *VhdxFile) Flush() error { return nil }

// Discard implements Backend: read-only.
func (v *VhdxFile) Discard(off, n int64) error { return ErrReadOnly }

// WriteZeroes implements Backend: read-only.
func (v *VhdxFile) WriteZeroes(off, n int64) error { return ErrReadOnly }

// SeekData implements Backend: all data.
func (v *VhdxFile) SeekData(off int64) (int64, error) { return min(off, v.size), nil }

// SeekHole implements Backend: see SeekData.
func (v *VhdxFile) SeekHole(off int64) (int64, error) { return v.size, nil }

// Size implements Backend.
func (v *VhdxFile) Size() int64 { return v.size }

// ReadOnly implements Backend: always.
func (v *VhdxFile) ReadOnly() bool { return true }

// Close implements Backend.
func (v *VhdxFile) Close() error { return v.raw.Close() }
