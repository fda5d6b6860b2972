package gpt

import (
	"encoding/binary"
	"unicode/utf16"

	"github.com/lklimg/lklimg/kernel/abi"
)

// NameUnits is the size of PartitionName: 36 UTF-16LE code units (72
// bytes), with no terminator when all are used.
const NameUnits = 36

// Entry is a GPT partition entry (UEFI 2.10 §5.3.3, Table 5-6).
type Entry struct {
	PartitionTypeGUID   GUID // all zeros: the entry is unused
	UniquePartitionGUID GUID
	StartingLBA         uint64
	EndingLBA           uint64 // inclusive
	Attributes          uint64
	PartitionName       string
}

// Attribute bits of Table 5-7; bits 48-63 are the type's own (GUID
// specific, such as Microsoft's read-only and hidden, or the Discoverable
// Partitions Specification's no-auto and read-only).
const (
	AttrRequiredPartition  = 1 << 0
	AttrNoBlockIOProtocol  = 1 << 1
	AttrLegacyBIOSBootable = 1 << 2
)

// EncodeName returns name as PartitionName's UTF-16 code units, and
// whether it fits in NameUnits. A character outside the BMP takes two
// units (a surrogate pair).
func EncodeName(name string) ([]uint16, bool) {
	units := utf16.Encode([]rune(name))
	return units, len(units) <= NameUnits
}

// Encode writes the entry into b (at least EntrySize bytes, which are
// zeroed first): the mirror of DecodeEntries for one entry. A name longer
// than NameUnits code units is cut (EncodeName tells a caller that
// wants to refuse it).
func (e *Entry) Encode(b []byte) {
	le := binary.LittleEndian
	clear(b[:EntrySize])
	copy(b[0:16], e.PartitionTypeGUID[:])
	copy(b[16:32], e.UniquePartitionGUID[:])
	le.PutUint64(b[32:], e.StartingLBA)
	le.PutUint64(b[40:], e.EndingLBA)
	le.PutUint64(b[48:], e.Attributes)
	units, _ := EncodeName(e.PartitionName)
	for k, u := range units[:min(len(units), NameUnits)] {
		le.PutUint16(b[56+2*k:], u)
	}
}

// EncodeArray returns the entry array of h's shape (NumberOfPartitionEntries
// entries of SizeOfPartitionEntry bytes) with entries in its first slots
// and the rest unused, padded with zeros to whole sectors; its CRC32 is
// ArrayCRC32 of the first h.ArrayBytes() bytes.
func EncodeArray(h *Header, entries []Entry) []byte {
	b := make([]byte, h.ArraySectors()*SectorSize)
	es := int(h.SizeOfPartitionEntry)
	for i := range entries[:min(len(entries), int(h.NumberOfPartitionEntries))] {
		entries[i].Encode(b[i*es:])
	}
	return b
}

// DecodeEntries decodes the entry array of h from b, checking its CRC32.
// b holds at least NumberOfPartitionEntries·SizeOfPartitionEntry bytes.
// Errors: EUCLEAN for a bad shape or CRC, EINVAL for a short b.
func DecodeEntries(b []byte, h *Header) ([]Entry, error) {
	n := int(h.NumberOfPartitionEntries)
	es := int(h.SizeOfPartitionEntry)
	if es < EntrySize || uint64(n)*uint64(es) > MaxArrayBytes {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt entries: bad shape %d×%d", n, es)
	}
	if len(b) < n*es {
		return nil, abi.Errorf(abi.EINVAL, "gpt entries: %d bytes, need %d", len(b), n*es)
	}
	b = b[:n*es]
	if sum := ArrayCRC32(b); sum != h.PartitionEntryArrayCRC32 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt entries: PartitionEntryArrayCRC32 %#08x, computed %#08x",
			h.PartitionEntryArrayCRC32, sum)
	}
	le := binary.LittleEndian
	entries := make([]Entry, n)
	var name [NameUnits]uint16
	for i := range entries {
		e := b[i*es:][:EntrySize]
		units := name[:0]
		for k := 0; k < NameUnits; k++ {
			u := le.Uint16(e[56+2*k:])
			if u == 0 {
				break
			}
			units = append(units, u)
		}
		entries[i] = Entry{
			PartitionTypeGUID:   GUID(e[0:16]),
			UniquePartitionGUID: GUID(e[16:32]),
			StartingLBA:         le.Uint64(e[32:]),
			EndingLBA:           le.Uint64(e[40:]),
			Attributes:          le.Uint64(e[48:]),
			PartitionName:       string(utf16.Decode(units)),
		}
	}
	return entries, nil
}
