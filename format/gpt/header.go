package gpt

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/lklimg/lklimg/kernel/abi"
)

// SectorSize is the logical block size the tables are laid out for: LBAs
// count 512-byte sectors, the only size the kernel's disks have.
const SectorSize = 512

// Signature is the header's first eight bytes.
const Signature = "EFI PART"

const (
	// Revision is the revision every writer puts: 1.0.
	Revision = 0x00010000
	// HeaderSize is the size of the header's fields (Table 5-5), what
	// writers put in HeaderSize.
	HeaderSize = 92
	// EntrySize is the size of an entry's fields (Table 5-6), what
	// writers put in SizeOfPartitionEntry.
	EntrySize    = 128
	maxEntrySize = 4096
	// MaxArrayBytes bounds the entry array a reader accepts: 1 MiB is
	// 8192 entries of 128 bytes, where tools write 128 (16 KiB).
	MaxArrayBytes = 1 << 20
	// DefaultEntries is the number of entries sfdisk, gdisk and the
	// specification's minimum (16 KiB of array) give a new table.
	DefaultEntries = 128
)

// Header is the GPT header (UEFI 2.10 §5.3.2, Table 5-5).
type Header struct {
	Revision                 uint32
	HeaderSize               uint32
	HeaderCRC32              uint32
	MyLBA                    uint64
	AlternateLBA             uint64
	FirstUsableLBA           uint64
	LastUsableLBA            uint64
	DiskGUID                 GUID
	PartitionEntryLBA        uint64
	NumberOfPartitionEntries uint32
	SizeOfPartitionEntry     uint32
	PartitionEntryArrayCRC32 uint32
}

// DecodeHeader decodes and checks a GPT header from its sector: the
// signature, HeaderSize (92 up to the sector size), the header CRC32, the
// reserved field, the usable range, and the entry array's shape
// (SizeOfPartitionEntry 128·2^n, the array at most MaxArrayBytes).
// Checks against the disk (MyLBA, the array's place) are the caller's.
// Errors: EINVAL for a short sector, EUCLEAN for a bad header.
func DecodeHeader(b []byte) (*Header, error) {
	if len(b) < SectorSize {
		return nil, abi.Errorf(abi.EINVAL, "gpt header: %d bytes, need %d", len(b), SectorSize)
	}
	if string(b[0:8]) != Signature {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: bad signature %q", b[0:8])
	}
	le := binary.LittleEndian
	h := &Header{
		Revision:                 le.Uint32(b[8:]),
		HeaderSize:               le.Uint32(b[12:]),
		HeaderCRC32:              le.Uint32(b[16:]),
		MyLBA:                    le.Uint64(b[24:]),
		AlternateLBA:             le.Uint64(b[32:]),
		FirstUsableLBA:           le.Uint64(b[40:]),
		LastUsableLBA:            le.Uint64(b[48:]),
		DiskGUID:                 GUID(b[56:72]),
		PartitionEntryLBA:        le.Uint64(b[72:]),
		NumberOfPartitionEntries: le.Uint32(b[80:]),
		SizeOfPartitionEntry:     le.Uint32(b[84:]),
		PartitionEntryArrayCRC32: le.Uint32(b[88:]),
	}
	if h.HeaderSize < HeaderSize || h.HeaderSize > SectorSize {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: HeaderSize %d not in [%d, %d]", h.HeaderSize, HeaderSize, SectorSize)
	}
	// The CRC covers HeaderSize bytes with its own field taken as zero.
	var hb [SectorSize]byte
	copy(hb[:], b[:h.HeaderSize])
	clear(hb[16:20])
	if sum := crc32.ChecksumIEEE(hb[:h.HeaderSize]); sum != h.HeaderCRC32 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: HeaderCRC32 %#08x, computed %#08x", h.HeaderCRC32, sum)
	}
	if r := le.Uint32(b[20:]); r != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: reserved field is %#x", r)
	}
	if h.FirstUsableLBA > h.LastUsableLBA {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: FirstUsableLBA %d > LastUsableLBA %d", h.FirstUsableLBA, h.LastUsableLBA)
	}
	es := h.SizeOfPartitionEntry
	if es < EntrySize || es > maxEntrySize || es&(es-1) != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: SizeOfPartitionEntry %d is not 128·2^n", es)
	}
	if uint64(h.NumberOfPartitionEntries)*uint64(es) > MaxArrayBytes {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: %d entries of %d bytes exceed %d bytes",
			h.NumberOfPartitionEntries, es, MaxArrayBytes)
	}
	return h, nil
}

// Encode writes the header into the sector b (at least SectorSize bytes,
// the rest of the sector zeroed), computing HeaderCRC32 over HeaderSize
// bytes: DecodeHeader's mirror. HeaderSize must be in [92, 512]. The
// other fields, PartitionEntryArrayCRC32 included (ArrayCRC32), are the
// caller's.
func (h *Header) Encode(b []byte) {
	le := binary.LittleEndian
	clear(b[:SectorSize])
	copy(b[0:8], Signature)
	le.PutUint32(b[8:], h.Revision)
	le.PutUint32(b[12:], h.HeaderSize)
	le.PutUint64(b[24:], h.MyLBA)
	le.PutUint64(b[32:], h.AlternateLBA)
	le.PutUint64(b[40:], h.FirstUsableLBA)
	le.PutUint64(b[48:], h.LastUsableLBA)
	copy(b[56:72], h.DiskGUID[:])
	le.PutUint64(b[72:], h.PartitionEntryLBA)
	le.PutUint32(b[80:], h.NumberOfPartitionEntries)
	le.PutUint32(b[84:], h.SizeOfPartitionEntry)
	le.PutUint32(b[88:], h.PartitionEntryArrayCRC32)
	h.HeaderCRC32 = crc32.ChecksumIEEE(b[:h.HeaderSize])
	le.PutUint32(b[16:], h.HeaderCRC32)
}

// ArrayBytes returns the size of the entry array in bytes.
func (h *Header) ArrayBytes() int {
	return int(uint64(h.NumberOfPartitionEntries) * uint64(h.SizeOfPartitionEntry))
}

// ArraySectors returns the number of sectors the entry array takes.
func (h *Header) ArraySectors() int {
	return (h.ArrayBytes() + SectorSize - 1) / SectorSize
}

// ArrayCRC32 returns the CRC32 of an entry array, as
// PartitionEntryArrayCRC32 holds it: of NumberOfPartitionEntries ×
// SizeOfPartitionEntry bytes, not of the sectors' padding.
func ArrayCRC32(array []byte) uint32 { return crc32.ChecksumIEEE(array) }
