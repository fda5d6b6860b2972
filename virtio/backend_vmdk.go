package virtio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/lklimg/lklimg/format/vmdk"
)

// VmdkFile is a read-only Backend over a VMware virtual disk
// (format/vmdk): its extents in order, each flat (a range of a raw
// file), sparse (hosted sparse or stream-optimized: grains found through
// the grain directory and tables, compressed ones inflated) or zero. A
// monolithicSparse or streamOptimized file is one sparse extent with its
// descriptor inside; a descriptor file names its extent files beside it.
// Safe for concurrent use.
type VmdkFile struct {
	mapped
	extents []*vmdkExtent
}

// vmdkExtent is one extent, at guest bytes [start, start+n).
type vmdkExtent struct {
	start, n int64
	typ      string       // FLAT, SPARSE, ZERO
	file     *RawFile     // FLAT and SPARSE
	offset   int64        // FLAT: bytes into file
	h        *vmdk.Header // SPARSE
	gd       []uint32     // SPARSE: grain table sectors, 0 for none

	mu  sync.Mutex
	gts map[uint32][]uint32 // grain tables read, by directory index
	z   struct {
		sector uint32
		data   []byte
	} // the last grain inflated
}

// maxVmdkSize bounds the sum of a descriptor's extents (each may be
// 2^50 sectors; thousands of them would overflow): 2^56 bytes.
const maxVmdkSize = 1 << 56

// vmdkGTCache bounds the grain tables an extent keeps (2 KiB each).
const vmdkGTCache = 2048

// OpenVmdk opens the VMDK disk at path (a sparse extent or a descriptor)
// for reading.
func OpenVmdk(path string, o ImageOptions) (Backend, error) {
	return openMapped(path, o, "vmdk", func(raw *RawFile) (Backend, error) { return newVmdk(path, raw) })
}

func newVmdk(path string, f *RawFile) (*VmdkFile, error) {
	head := make([]byte, vmdk.SectorSize)
	if err := f.ReadAt([][]byte{head}, 0); err != nil {
		return nil, err
	}
	v := &VmdkFile{}
	v.mapped = mapped{name: "vmdk", runAt: v.runAt}
	if binary.LittleEndian.Uint32(head) == vmdk.Magic {
		// One sparse extent, its descriptor inside.
		e, err := sparseExtent(f)
		if err != nil {
			return nil, err
		}
		if err := checkNoParent(f, e.h); err != nil {
			return nil, err
		}
		e.n = int64(e.h.Capacity) * vmdk.SectorSize
		v.extents, v.size, v.closers = []*vmdkExtent{e}, e.n, []interface{ Close() error }{f}
		return v, nil
	}
	// A descriptor file: its extents' files are opened; f is kept
	// until Close with them.
	text := make([]byte, min(f.Size()+vmdk.SectorSize, 1<<20))
	if err := f.ReadAt([][]byte{text}, 0); err != nil {
		return nil, err
	}
	d, err := vmdk.ParseDescriptor(text)
	if err != nil {
		return nil, err
	}
	if d.ParentCID != "" && d.ParentCID != "ffffffff" {
		return nil, fmt.Errorf("%w: a disk with a parent (parentCID %s)", vmdk.ErrUnsupported, d.ParentCID)
	}
	if err := v.addExtents(path, d.Extents); err != nil {
		v.Close()
		return nil, err
	}
	v.closers = append(v.closers, f)
	return v, nil
}

// addExtents opens the extents of a descriptor at path, in order.
func (v *VmdkFile) addExtents(path string, xs []vmdk.Extent) error {
	for _, x := range xs {
		e := &vmdkExtent{start: v.size, n: int64(x.Sectors) * vmdk.SectorSize, typ: x.Type}
		switch x.Type {
		case "ZERO":
		case "FLAT", "SPARSE":
			name := x.File
			if !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(path), name)
			}
			ef, err := OpenRawFile(name, RawOptions{ReadOnly: true})
			if err != nil {
				return fmt.Errorf("extent %s: %w", x.File, err)
			}
			e.file, e.offset = ef, int64(x.Offset)*vmdk.SectorSize
			v.closers = append(v.closers, ef)
			if x.Type == "SPARSE" {
				s, err := sparseExtent(ef)
				if err != nil {
					return fmt.Errorf("extent %s: %w", x.File, err)
				}
				e.h, e.gd, e.gts = s.h, s.gd, s.gts
			}
		default:
			return fmt.Errorf("%w: a %s extent", vmdk.ErrUnsupported, x.Type)
		}
		v.extents = append(v.extents, e)
		v.size += e.n
		if v.size > maxVmdkSize {
			return fmt.Errorf("%w: extents of more than %d bytes", vmdk.ErrCorrupt, int64(maxVmdkSize))
		}
	}
	v.size &^= SectorSize - 1
	return nil
}

// checkNoParent refuses a sparse extent whose embedded descriptor names a
// parent: its unallocated grains are the parent's, which is not read.
func checkNoParent(f *RawFile, h *vmdk.Header) error {
	if h.DescriptorOffset == 0 || h.DescriptorSize == 0 || h.DescriptorSize > 2048 {
		return nil
	}
	text := make([]byte, h.DescriptorSize*vmdk.SectorSize)
	if err := f.ReadAt([][]byte{text}, int64(h.DescriptorOffset)*vmdk.SectorSize); err != nil {
		return err
	}
	if d, err := vmdk.ParseDescriptor(text); err == nil && d.ParentCID != "" && d.ParentCID != "ffffffff" {
		return fmt.Errorf("%w: a disk with a parent (parentCID %s)", vmdk.ErrUnsupported, d.ParentCID)
	}
	return nil
}

// sparseExtent reads a sparse extent's header (the footer's, for a
// stream-optimized one whose directory is at its end) and its grain
// directory.
func sparseExtent(f *RawFile) (*vmdkExtent, error) {
	st, err := f.f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, vmdk.SectorSize)
	if err := f.ReadAt([][]byte{b}, 0); err != nil {
		return nil, err
	}
	h, err := vmdk.DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if h.GDOffset == vmdk.GDAtEnd {
		// The footer: a header with the directory's place, in the
		// sector before the end-of-stream marker.
		if st.Size() < 3*vmdk.SectorSize {
			return nil, fmt.Errorf("%w: no footer", vmdk.ErrCorrupt)
		}
		if err := f.ReadAt([][]byte{b}, st.Size()-2*vmdk.SectorSize); err != nil {
			return nil, err
		}
		if h, err = vmdk.DecodeHeader(b); err != nil {
			return nil, fmt.Errorf("footer: %w", err)
		}
	}
	n := h.GDEntries()
	if h.GDOffset == 0 || h.GDOffset > uint64(st.Size())/vmdk.SectorSize || n*4 > uint64(st.Size()) {
		return nil, fmt.Errorf("%w: grain directory at sector %d (%d entries)", vmdk.ErrCorrupt, h.GDOffset, n)
	}
	raw := make([]byte, n*4)
	if err := f.ReadAt([][]byte{raw}, int64(h.GDOffset)*vmdk.SectorSize); err != nil {
		return nil, err
	}
	gd := make([]uint32, n)
	for i := range gd {
		gd[i] = binary.LittleEndian.Uint32(raw[i*4:])
	}
	return &vmdkExtent{typ: "SPARSE", file: f, h: h, gd: gd, gts: map[uint32][]uint32{}}, nil
}

// runAt is what the guest bytes from off read as (mapped): a flat
// extent's or a stored grain's bytes in their file, a compressed grain,
// or zeros, to the end of its grain or extent.
func (v *VmdkFile) runAt(off int64) (run, error) {
	e := v.extentAt(off)
	if e == nil {
		return run{n: v.size - off}, nil
	}
	s, err := e.span(off - e.start)
	if err != nil {
		return run{}, err
	}
	n := min(s.n, e.start+e.n-off)
	switch {
	case s.file == nil:
		return run{n: n}, nil
	case s.compressed:
		return run{n: n, fill: func(part [][]byte, off int64) error { return e.readGrain(part, s, off-e.start) }}, nil
	}
	return run{n: n, from: s.file, at: s.host}, nil
}

// extentAt returns the extent holding guest byte off, nil past the end.
func (v *VmdkFile) extentAt(off int64) *vmdkExtent {
	for _, e := range v.extents {
		if off >= e.start && off < e.start+e.n {
			return e
		}
	}
	return nil
}

// vspan is what extent bytes read as: a file's bytes at host, a
// compressed grain (its sector), or zeros (file nil).
type vspan struct {
	file       *RawFile
	host       int64
	compressed bool
	sector     uint32
	n          int64
}

// span returns what the extent's bytes from off read as, up to the end
// of their grain (of the extent, for a flat or zero one).
func (e *vmdkExtent) span(off int64) (vspan, error) {
	switch e.typ {
	case "ZERO":
		return vspan{n: e.n - off}, nil
	case "FLAT":
		return vspan{file: e.file, host: e.offset + off, n: e.n - off}, nil
	}
	h := e.h
	grain := int64(h.GrainSize) * vmdk.SectorSize
	gi := uint64(off / grain)
	in := off % grain
	gdi, gti := gi/uint64(h.NumGTEsPerGT), gi%uint64(h.NumGTEsPerGT)
	rest := grain - in
	if gdi >= uint64(len(e.gd)) || e.gd[gdi] == 0 {
		return vspan{n: rest}, nil
	}
	gt, err := e.table(uint32(gdi))
	if err != nil {
		return vspan{}, err
	}
	gte := gt[gti]
	switch {
	case gte == vmdk.GTEUnallocated, gte == vmdk.GTEZeroed && h.Flags&vmdk.FlagZeroedGrainGTE != 0:
		return vspan{n: rest}, nil
	case h.Flags&vmdk.FlagCompressed != 0:
		return vspan{file: e.file, compressed: true, sector: gte, n: rest}, nil
	}
	return vspan{file: e.file, host: int64(gte)*vmdk.SectorSize + in, n: rest}, nil
}

// table returns grain table gdi, read or from the cache.
func (e *vmdkExtent) table(gdi uint32) ([]uint32, error) {
	e.mu.Lock()
	gt, ok := e.gts[gdi]
	e.mu.Unlock()
	if ok {
		return gt, nil
	}
	raw := make([]byte, e.h.NumGTEsPerGT*4)
	if err := e.file.ReadAt([][]byte{raw}, int64(e.gd[gdi])*vmdk.SectorSize); err != nil {
		return nil, err
	}
	gt = make([]uint32, e.h.NumGTEsPerGT)
	for i := range gt {
		gt[i] = binary.LittleEndian.Uint32(raw[i*4:])
	}
	e.mu.Lock()
	if len(e.gts) >= vmdkGTCache {
		clear(e.gts)
	}
	e.gts[gdi] = gt
	e.mu.Unlock()
	return gt, nil
}

// readGrain fills part with the extent's bytes from off, in the
// compressed grain s: a grain marker (its size) and a zlib stream.
func (e *vmdkExtent) readGrain(part [][]byte, s vspan, off int64) error {
	grain := int64(e.h.GrainSize) * vmdk.SectorSize
	e.mu.Lock()
	data := e.z.data
	if e.z.sector != s.sector {
		data = nil
	}
	e.mu.Unlock()
	if data == nil {
		head := make([]byte, vmdk.MarkerSize)
		at := int64(s.sector) * vmdk.SectorSize
		if err := e.file.ReadAt([][]byte{head}, at); err != nil {
			return err
		}
		_, size, err := vmdk.DecodeGrainMarker(head)
		if err != nil {
			return err
		}
		if int64(size) > 2*grain+4096 {
			return fmt.Errorf("%w: a compressed grain of %d bytes", vmdk.ErrCorrupt, size)
		}
		in := make([]byte, size)
		if err := e.file.ReadAt([][]byte{in}, at+vmdk.MarkerSize); err != nil {
			return err
		}
		zr, err := zlib.NewReader(bytes.NewReader(in))
		if err != nil {
			return fmt.Errorf("%w: the grain at sector %d: %v", vmdk.ErrCorrupt, s.sector, err)
		}
		data = make([]byte, grain)
		if _, err := io.ReadFull(zr, data); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the grain at sector %d: %v", vmdk.ErrCorrupt, s.sector, err)
		}
		e.mu.Lock()
		e.z.sector, e.z.data = s.sector, data
		e.mu.Unlock()
	}
	at := off % grain
	for _, b := range part {
		at += int64(copy(b, data[at:]))
	}
	return nil
}
