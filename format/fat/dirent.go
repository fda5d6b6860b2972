package fat

import "github.com/lklimg/lklimg/kernel/abi"

// Directory entries (fatgen §6), 32 bytes each (struct msdos_dir_entry):
//
//	 0 DIR_Name[11]       8.3 name, space padded, no dot
//	11 DIR_Attr           Attr* bits; AttrLongName marks a long-name slot
//	12 DIR_NTRes          Linux's lcase: CaseLowerBase, CaseLowerExt
//	13 DIR_CrtTimeTenth   creation time, 10 ms units (0-199)
//	14 DIR_CrtTime u16    16 DIR_CrtDate u16
//	18 DIR_LstAccDate u16
//	20 DIR_FstClusHI u16  high half of the first cluster (FAT32)
//	22 DIR_WrtTime u16    24 DIR_WrtDate u16
//	26 DIR_FstClusLO u16
//	28 DIR_FileSize u32
//
// DIR_Name[0] is 0x00 for a free entry after which all are free, 0xE5 for
// a free (deleted) one, 0x05 for a name whose first byte is 0xE5
// (fatgen §6.1).
const (
	DirEntrySize = 32
	NameLen      = 11

	// DirEntFree is DIR_Name[0] of a deleted entry (DELETED_FLAG).
	DirEntFree = 0xE5
	// DirEntEnd is DIR_Name[0] of the entry ending the directory.
	DirEntEnd = 0x00
	// DirEntKanji is DIR_Name[0] standing for a leading 0xE5 (IS_FREE's
	// exception, Linux's 0x05 handling).
	DirEntKanji = 0x05
)

// DIR_Attr bits (fatgen §6, ATTR_* in msdos_fs.h).
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrVolumeID  = 0x08
	AttrDirectory = 0x10
	AttrArchive   = 0x20
	// AttrLongName marks a long-name slot (ATTR_EXT).
	AttrLongName = AttrReadOnly | AttrHidden | AttrSystem | AttrVolumeID
	// AttrUnused are the bits no entry should have.
	AttrUnused = 0xC0
)

// DIR_NTRes bits Windows NT and Linux keep: the base name or the
// extension is shown in lower case although stored in upper case
// (CASE_LOWER_BASE, CASE_LOWER_EXT).
const (
	CaseLowerBase = 0x08
	CaseLowerExt  = 0x10
)

// DirEntry is a short (8.3) directory entry.
type DirEntry struct {
	Name         [NameLen]byte
	Attr         uint8
	NTRes        uint8
	CrtTimeTenth uint8
	CrtTime      uint16
	CrtDate      uint16
	LstAccDate   uint16
	FstClusHI    uint16
	WrtTime      uint16
	WrtDate      uint16
	FstClusLO    uint16
	FileSize     uint32
}

// DecodeDirEntry decodes the 32 bytes at the start of p.
func DecodeDirEntry(p []byte) DirEntry {
	var d DirEntry
	copy(d.Name[:], p[:NameLen])
	d.Attr = p[11]
	d.NTRes = p[12]
	d.CrtTimeTenth = p[13]
	d.CrtTime = le.Uint16(p[14:])
	d.CrtDate = le.Uint16(p[16:])
	d.LstAccDate = le.Uint16(p[18:])
	d.FstClusHI = le.Uint16(p[20:])
	d.WrtTime = le.Uint16(p[22:])
	d.WrtDate = le.Uint16(p[24:])
	d.FstClusLO = le.Uint16(p[26:])
	d.FileSize = le.Uint32(p[28:])
	return d
}

// Encode writes the entry into p[:32].
func (d *DirEntry) Encode(p []byte) {
	copy(p[:NameLen], d.Name[:])
	p[11] = d.Attr
	p[12] = d.NTRes
	p[13] = d.CrtTimeTenth
	le.PutUint16(p[14:], d.CrtTime)
	le.PutUint16(p[16:], d.CrtDate)
	le.PutUint16(p[18:], d.LstAccDate)
	le.PutUint16(p[20:], d.FstClusHI)
	le.PutUint16(p[22:], d.WrtTime)
	le.PutUint16(p[24:], d.WrtDate)
	le.PutUint16(p[26:], d.FstClusLO)
	le.PutUint32(p[28:], d.FileSize)
}

// Cluster returns the entry's first cluster; FstClusHI counts only on
// FAT32 (on FAT12 and FAT16 it is where OS/2 kept extended attributes).
func (d *DirEntry) Cluster(bits int) uint32 {
	c := uint32(d.FstClusLO)
	if bits == 32 {
		c |= uint32(d.FstClusHI) << 16
	}
	return c
}

// SetCluster sets the first cluster, both halves on FAT32.
func (d *DirEntry) SetCluster(bits int, c uint32) {
	d.FstClusLO = uint16(c)
	if bits == 32 {
		d.FstClusHI = uint16(c >> 16)
	}
}

// IsLongName reports whether the 32 bytes at p are a long-name slot.
func IsLongName(p []byte) bool { return p[11]&0x3F == AttrLongName }

// Checksum is the checksum of a short name that every long-name slot
// for it carries (fatgen §7.2, ChkSum): a rotate right by one and an add,
// over the 11 bytes.
func Checksum(name *[NameLen]byte) uint8 {
	var sum uint8
	for _, c := range name {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

// Long-name slots (fatgen §7, struct msdos_dir_slot): 13 UTF-16 units
// each, in three pieces, the slots of a name stored before its short entry
// in reverse order, the first stored (highest ordinal) flagged LastLongEntry:
//
//	 0 LDIR_Ord        1 to 20, | LastLongEntry on the last
//	 1 LDIR_Name1[10]  units 0-4
//	11 LDIR_Attr       AttrLongName
//	12 LDIR_Type       0
//	13 LDIR_Chksum     Checksum of the short name
//	14 LDIR_Name2[12]  units 5-10
//	26 LDIR_FstClusLO  0
//	28 LDIR_Name3[4]   units 11-12
//
// A name ends with a 0x0000 unit if room is left in its last slot, and
// the rest of that slot is 0xFFFF.
const (
	LastLongEntry = 0x40
	SlotUnits     = 13
	// MaxLongName is the longest name in UTF-16 units (fatgen §7:
	// 255), so 20 slots at most.
	MaxLongName = 255
	MaxSlots    = (MaxLongName + SlotUnits - 1) / SlotUnits
)

// slotUnitOffsets are the offsets of the 13 units within a slot.
var slotUnitOffsets = [SlotUnits]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}

// Slot is one long-name slot decoded: its ordinal (without
// LastLongEntry), whether it is the last, its checksum and its 13 units.
type Slot struct {
	Ord      uint8
	Last     bool
	Checksum uint8
	Units    [SlotUnits]uint16
}

// DecodeSlot decodes the long-name slot in p[:32].
func DecodeSlot(p []byte) Slot {
	s := Slot{Ord: p[0] &^ LastLongEntry, Last: p[0]&LastLongEntry != 0, Checksum: p[13]}
	for i, off := range slotUnitOffsets {
		s.Units[i] = le.Uint16(p[off:])
	}
	return s
}

// Encode writes the slot into p[:32].
func (s *Slot) Encode(p []byte) {
	clear(p[:DirEntrySize])
	p[0] = s.Ord
	if s.Last {
		p[0] |= LastLongEntry
	}
	p[11] = AttrLongName
	p[13] = s.Checksum
	for i, off := range slotUnitOffsets {
		le.PutUint16(p[off:], s.Units[i])
	}
}

// LongNameSlots cuts a long name (UTF-16 units, 1 to MaxLongName) into
// its slots in the order they are stored: the last part first, flagged
// LastLongEntry, down to ordinal 1, which precedes the short entry.
func LongNameSlots(name []uint16, checksum uint8) ([]Slot, error) {
	if len(name) == 0 || len(name) > MaxLongName {
		return nil, abi.Errorf(abi.ENAMETOOLONG, "fat: long name of %d units", len(name))
	}
	n := (len(name) + SlotUnits - 1) / SlotUnits
	slots := make([]Slot, n)
	for i := range n {
		s := &slots[n-1-i]
		s.Ord = uint8(i + 1)
		s.Last = i == n-1
		s.Checksum = checksum
		for j := range SlotUnits {
			k := i*SlotUnits + j
			switch {
			case k < len(name):
				s.Units[j] = name[k]
			case k == len(name):
				s.Units[j] = 0
			default:
				s.Units[j] = 0xFFFF
			}
		}
	}
	return slots, nil
}
