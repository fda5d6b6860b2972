package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is the header's first four bytes, "QFI\xfb".
const Magic = 0x514649fb

var (
	// ErrCorrupt is wrapped by the errors of a damaged image.
	ErrCorrupt = errors.New("qcow2: corrupt image")
	// ErrUnsupported is wrapped by the errors of a feature not read.
	ErrUnsupported = errors.New("qcow2: unsupported feature")
)

// Incompatible feature bits (header offset 72, version 3).
const (
	IncompatDirty        = 1 << 0 // refcounts may be wrong (lazy refcounts)
	IncompatCorrupt      = 1 << 1 // QEMU found the metadata damaged
	IncompatExternalData = 1 << 2 // guest data lives in an external file
	IncompatCompression  = 1 << 3 // compression_type is set
	IncompatExtendedL2   = 1 << 4 // L2 entries of 128 bits, with subclusters
	incompatKnown        = IncompatDirty | IncompatCorrupt | IncompatExternalData | IncompatCompression | IncompatExtendedL2
)

// Compression types (header offset 104).
const (
	CompressionDeflate = 0
	CompressionZstd    = 1
)

// Header extension types.
const (
	extEnd            = 0
	extBackingFormat  = 0xe2792aca
	extFeatureNames   = 0x6803f857
	extExternalData   = 0x44415441
	extEncryption     = 0x0537be77
	v2HeaderLength    = 72
	v3MinHeaderLength = 104
)

// Limits the decoders hold an image to, as QEMU does (block/qcow2.h): a
// cluster of 512 bytes to 2 MiB, an L1 table of at most 32 MiB, a name
// of at most 1023 bytes.
const (
	MinClusterBits = 9
	MaxClusterBits = 21
	maxL1Bytes     = 32 << 20
	maxNameLen     = 1023
)

// Header is a qcow2 header with what its extensions say.
type Header struct {
	Version               uint32
	BackingFileOffset     uint64
	BackingFileSize       uint32
	ClusterBits           uint32
	Size                  uint64 // the guest disk's size in bytes
	CryptMethod           uint32
	L1Size                uint32 // entries
	L1TableOffset         uint64
	RefcountTableOffset   uint64
	RefcountTableClusters uint32
	NbSnapshots           uint32
	SnapshotsOffset       uint64
	IncompatibleFeatures  uint64
	CompatibleFeatures    uint64
	AutoclearFeatures     uint64
	RefcountOrder         uint32
	HeaderLength          uint32
	CompressionType       uint8

	// From the extensions: the backing file's format ("raw",
	// "qcow2"; empty when not given) and the external data file's name.
	BackingFormat    string
	ExternalDataFile string
}

// ClusterSize is the cluster size in bytes.
func (h *Header) ClusterSize() int64 { return 1 << h.ClusterBits }

// ExtendedL2 reports whether L2 entries carry subcluster bitmaps.
func (h *Header) ExtendedL2() bool { return h.IncompatibleFeatures&IncompatExtendedL2 != 0 }

// L2Bits is log2 of the entries of an L2 table (one cluster of 8-byte
// entries, or 16-byte ones with extended L2).
func (h *Header) L2Bits() uint32 {
	if h.ExtendedL2() {
		return h.ClusterBits - 4
	}
	return h.ClusterBits - 3
}

// DecodeHeader decodes the header at the start of b, which holds the
// image's first cluster (or all of a smaller file), and its extensions.
// fileSize is the image file's size, which every offset must lie within.
func DecodeHeader(b []byte, fileSize int64) (*Header, error) {
	be := binary.BigEndian
	if len(b) < v2HeaderLength || be.Uint32(b) != Magic {
		return nil, fmt.Errorf("%w: no qcow2 magic", ErrCorrupt)
	}
	h := &Header{
		Version:               be.Uint32(b[4:]),
		BackingFileOffset:     be.Uint64(b[8:]),
		BackingFileSize:       be.Uint32(b[16:]),
		ClusterBits:           be.Uint32(b[20:]),
		Size:                  be.Uint64(b[24:]),
		CryptMethod:           be.Uint32(b[32:]),
		L1Size:                be.Uint32(b[36:]),
		L1TableOffset:         be.Uint64(b[40:]),
		RefcountTableOffset:   be.Uint64(b[48:]),
		RefcountTableClusters: be.Uint32(b[56:]),
		NbSnapshots:           be.Uint32(b[60:]),
		SnapshotsOffset:       be.Uint64(b[64:]),
		RefcountOrder:         4,
		HeaderLength:          v2HeaderLength,
	}
	switch h.Version {
	case 2:
	case 3:
		if len(b) < v3MinHeaderLength {
			return nil, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(b))
		}
		h.IncompatibleFeatures = be.Uint64(b[72:])
		h.CompatibleFeatures = be.Uint64(b[80:])
		h.AutoclearFeatures = be.Uint64(b[88:])
		h.RefcountOrder = be.Uint32(b[96:])
		h.HeaderLength = be.Uint32(b[100:])
		if h.HeaderLength < v3MinHeaderLength || h.HeaderLength%8 != 0 || int(h.HeaderLength) > len(b) {
			return nil, fmt.Errorf("%w: header_length %d", ErrCorrupt, h.HeaderLength)
		}
		if h.HeaderLength > v3MinHeaderLength {
			h.CompressionType = b[104]
		}
	default:
		return nil, fmt.Errorf("%w: version %d (this reads 2 and 3)", ErrUnsupported, h.Version)
	}
	if h.ClusterBits < MinClusterBits || h.ClusterBits > MaxClusterBits {
		return nil, fmt.Errorf("%w: cluster_bits %d", ErrCorrupt, h.ClusterBits)
	}
	if h.ExtendedL2() && h.ClusterBits < 14 {
		return nil, fmt.Errorf("%w: extended L2 entries with clusters under 16 KiB", ErrCorrupt)
	}
	if h.CryptMethod != 0 {
		return nil, fmt.Errorf("%w: encrypted image (crypt_method %d)", ErrUnsupported, h.CryptMethod)
	}
	if unknown := h.IncompatibleFeatures &^ incompatKnown; unknown != 0 {
		return nil, fmt.Errorf("%w: incompatible feature bits %#x", ErrUnsupported, unknown)
	}
	if h.IncompatibleFeatures&IncompatCompression != 0 && h.CompressionType != CompressionZstd ||
		h.IncompatibleFeatures&IncompatCompression == 0 && h.CompressionType != CompressionDeflate {
		return nil, fmt.Errorf("%w: compression type %d", ErrCorrupt, h.CompressionType)
	}
	if h.RefcountOrder > 6 {
		return nil, fmt.Errorf("%w: refcount_order %d", ErrCorrupt, h.RefcountOrder)
	}
	cs := uint64(h.ClusterSize())
	if h.Size > 1<<62 {
		return nil, fmt.Errorf("%w: disk size %d", ErrCorrupt, h.Size)
	}
	// The L1 table must map the whole disk, and fit in the file.
	perL1 := uint64(1) << (h.ClusterBits + h.L2Bits())
	need := (h.Size + perL1 - 1) / perL1
	if uint64(h.L1Size) < need || uint64(h.L1Size)*8 > maxL1Bytes {
		return nil, fmt.Errorf("%w: L1 table of %d entries for a disk of %d bytes", ErrCorrupt, h.L1Size, h.Size)
	}
	if h.L1Size > 0 && (h.L1TableOffset%cs != 0 || h.L1TableOffset == 0 || h.L1TableOffset > uint64(fileSize) || uint64(h.L1Size)*8 > uint64(fileSize)-h.L1TableOffset) {
		return nil, fmt.Errorf("%w: L1 table at %d (%d entries) outside the file of %d bytes", ErrCorrupt, h.L1TableOffset, h.L1Size, fileSize)
	}
	if h.BackingFileOffset != 0 {
		if h.BackingFileSize == 0 || h.BackingFileSize > maxNameLen || h.BackingFileOffset > uint64(len(b)) ||
			uint64(h.BackingFileSize) > uint64(len(b))-h.BackingFileOffset {
			return nil, fmt.Errorf("%w: backing file name at %d (%d bytes)", ErrCorrupt, h.BackingFileOffset, h.BackingFileSize)
		}
	}
	if err := h.decodeExtensions(b); err != nil {
		return nil, err
	}
	if h.IncompatibleFeatures&IncompatExternalData != 0 && h.ExternalDataFile == "" {
		return nil, fmt.Errorf("%w: an external data file without its name", ErrCorrupt)
	}
	return h, nil
}

// BackingFile returns the backing file's name (a path relative to the
// image's directory unless absolute), or "" for none. b is as for
// DecodeHeader.
func (h *Header) BackingFile(b []byte) string {
	if h.BackingFileOffset == 0 {
		return ""
	}
	return string(b[h.BackingFileOffset : h.BackingFileOffset+uint64(h.BackingFileSize)])
}

// decodeExtensions reads the header extensions after the header: type,
// length, data padded to 8 bytes, up to the end marker (type 0).
func (h *Header) decodeExtensions(b []byte) error {
	be := binary.BigEndian
	off := uint64(h.HeaderLength)
	for {
		if off+8 > uint64(len(b)) {
			return fmt.Errorf("%w: header extensions run past the first cluster", ErrCorrupt)
		}
		typ, n := be.Uint32(b[off:]), uint64(be.Uint32(b[off+4:]))
		off += 8
		if typ == extEnd {
			return nil
		}
		if n > uint64(len(b))-off {
			return fmt.Errorf("%w: header extension %#x of %d bytes past the first cluster", ErrCorrupt, typ, n)
		}
		data := b[off : off+n]
		switch typ {
		case extBackingFormat:
			if n > maxNameLen {
				return fmt.Errorf("%w: backing format name of %d bytes", ErrCorrupt, n)
			}
			h.BackingFormat = string(data)
		case extExternalData:
			if n > maxNameLen {
				return fmt.Errorf("%w: external data file name of %d bytes", ErrCorrupt, n)
			}
			h.ExternalDataFile = string(data)
		case extEncryption:
			return fmt.Errorf("%w: an encryption header", ErrUnsupported)
		}
		off += (n + 7) &^ 7
	}
}
