package iso9660

import "bytes"

// Volume descriptors (ECMA-119 §8): one per logical sector from sector 16,
// ended by a terminator. Each starts with its type, "CD001" and version 1.
const (
	// FirstDescriptorSector is where the volume descriptor set starts
	// (ECMA-119 §6.2.1: after the 16 sectors of the system area).
	FirstDescriptorSector = 16
	// StandardID is the standard identifier of every descriptor.
	StandardID = "CD001"
	// MaxDescriptors bounds the descriptors Linux looks at: it stops
	// at sector 100 (isofs_fill_super's loop).
	MaxDescriptors = 100 - FirstDescriptorSector
)

// Volume descriptor types (ECMA-119 §8.1.1).
const (
	TypeBootRecord    = 0
	TypePrimary       = 1
	TypeSupplementary = 2
	TypePartition     = 3
	TypeTerminator    = 255
)

// IsDescriptor reports whether the sector p holds a volume descriptor:
// "CD001" at byte 1, what blkid and Linux's probe look for.
func IsDescriptor(p []byte) bool {
	return len(p) >= 7 && string(p[1:6]) == StandardID
}

// VolumeDescriptor is a primary or supplementary volume descriptor
// (ECMA-119 §8.4 and §8.5, struct iso_primary_descriptor and
// iso_supplementary_descriptor): the two share one layout, the
// supplementary one adding volume flags and escape sequences.
//
//	  0 type             1 id "CD001"       6 version
//	  7 volume flags (supplementary)
//	  8 system id[32]   40 volume id[32]
//	 80 volume space size (733)
//	 88 escape sequences[32] (supplementary)
//	120 volume set size (723)  124 volume sequence number (723)
//	128 logical block size (723)
//	132 path table size (733)  140 L path table  148 M path table
//	156 root directory record[34]
//	190 volume set id[128] 318 publisher[128] 446 preparer[128]
//	574 application[128] 702 copyright file[37] 739 abstract[37]
//	776 bibliographic[37] 813 creation date[17] 830 modification[17]
//	847 expiration[17] 864 effective[17] 881 file structure version
type VolumeDescriptor struct {
	Type             uint8
	Version          uint8
	Flags            uint8
	SystemID         string
	VolumeID         string
	VolumeSpaceSize  uint32 // in logical blocks
	EscapeSequences  [32]byte
	VolumeSetSize    uint16
	VolumeSeqNumber  uint16
	LogicalBlockSize uint16
	PathTableSize    uint32
	Root             DirRecord // the root directory's record
	CreationDate     [17]byte
	ModificationDate [17]byte
}

// DecodeVolumeDescriptor decodes a primary or supplementary descriptor
// from its sector p. The root's record is decoded as any record is; the
// logical block size is left to the caller to check (Linux takes 512,
// 1024 and 2048).
func DecodeVolumeDescriptor(p []byte) (*VolumeDescriptor, error) {
	if len(p) < SectorSize {
		return nil, corrupt("volume descriptor: %d bytes, want %d", len(p), SectorSize)
	}
	if !IsDescriptor(p) {
		return nil, corrupt("volume descriptor: no %q", StandardID)
	}
	if p[0] != TypePrimary && p[0] != TypeSupplementary {
		return nil, corrupt("volume descriptor: type %d is not primary or supplementary", p[0])
	}
	d := &VolumeDescriptor{
		Type:             p[0],
		Version:          p[6],
		Flags:            p[7],
		SystemID:         string(bytes.TrimRight(p[8:40], " \x00")),
		VolumeID:         string(bytes.TrimRight(p[40:72], " \x00")),
		VolumeSpaceSize:  both733(p[80:]),
		VolumeSetSize:    both723(p[120:]),
		VolumeSeqNumber:  both723(p[124:]),
		LogicalBlockSize: both723(p[128:]),
		PathTableSize:    both733(p[132:]),
	}
	copy(d.EscapeSequences[:], p[88:120])
	copy(d.CreationDate[:], p[813:830])
	copy(d.ModificationDate[:], p[830:847])
	root, err := decodeRootRecord(p[156:], false)
	if err != nil {
		return nil, err
	}
	d.Root = root
	return d, nil
}

// decodeRootRecord decodes the root's record in a descriptor, p at its
// start (High Sierra's layout when hs). The record is 34 bytes: a
// one-byte name (0x00). Linux (isofs_fill_super) reads only its extent
// and extended attribute length, so a length byte or identifier length
// other writers got wrong (libarchive's test_read_format_iso_3.iso says
// 68) is taken as the 34 and 1 the field holds.
func decodeRootRecord(p []byte, hs bool) (DirRecord, error) {
	var rec [MinDirRecordSize]byte
	copy(rec[:], p[:MinDirRecordSize])
	rec[0], rec[32] = MinDirRecordSize, 1
	decode := DecodeDirRecord
	if hs {
		decode = DecodeHSDirRecord
	}
	root, err := decode(rec[:])
	if err != nil {
		return root, corrupt("volume descriptor: root directory record: %v", err)
	}
	root.SystemUse = nil
	return root, nil
}

// JolietLevel returns the Joliet level (1, 2 or 3) a supplementary
// descriptor's escape sequences name ("%/@", "%/C", "%/E", Joliet
// specification §5), or 0 when it is not Joliet's. Linux reads only the
// first three bytes, and takes any "%/" as Joliet (level 0 when the third
// byte is none of the three); so does IsJoliet.
func (d *VolumeDescriptor) JolietLevel() int {
	if !d.IsJoliet() {
		return 0
	}
	switch d.EscapeSequences[2] {
	case '@':
		return 1
	case 'C':
		return 2
	case 'E':
		return 3
	}
	return 0
}

// IsJoliet reports whether a supplementary descriptor's escape sequences
// start with "%/", what Linux takes as the Joliet descriptor.
func (d *VolumeDescriptor) IsJoliet() bool {
	return d.Type == TypeSupplementary && d.EscapeSequences[0] == '%' && d.EscapeSequences[1] == '/'
}

// BlockShift returns log2 of the logical block size, or an error for a
// size Linux does not mount ("Bad logical zone size").
func (d *VolumeDescriptor) BlockShift() (uint, error) {
	switch d.LogicalBlockSize {
	case 512:
		return 9, nil
	case 1024:
		return 10, nil
	case 2048:
		return 11, nil
	}
	return 0, corrupt("volume descriptor: bad logical block size %d", d.LogicalBlockSize)
}

// ElToritoID is the boot system identifier of El Torito's boot record.
const ElToritoID = "EL TORITO SPECIFICATION"

// BootRecord is a boot record volume descriptor (ECMA-119 §8.2): its
// system identifier and, for El Torito (El Torito 1.0 §2.0, the "Boot
// Record Volume Descriptor"), the sector of the boot catalog.
//
//	0 type 0   1 "CD001"   6 version
//	7 boot system id[32]  39 boot id[32]
//	71 boot catalog sector (El Torito: little-endian 32 bits)
type BootRecord struct {
	BootSystemID string
	BootID       string
	// CatalogSector is the boot catalog's sector (El Torito only).
	CatalogSector uint32
}

// DecodeBootRecord decodes a boot record descriptor from its sector.
func DecodeBootRecord(p []byte) (*BootRecord, error) {
	if len(p) < SectorSize || !IsDescriptor(p) || p[0] != TypeBootRecord {
		return nil, corrupt("boot record: not a boot record volume descriptor")
	}
	b := &BootRecord{
		BootSystemID: string(bytes.TrimRight(p[7:39], " \x00")),
		BootID:       string(bytes.TrimRight(p[39:71], " \x00")),
	}
	if b.BootSystemID == ElToritoID {
		b.CatalogSector = le.Uint32(p[71:])
	}
	return b, nil
}

// IsElTorito reports whether the boot record is El Torito's.
func (b *BootRecord) IsElTorito() bool { return b.BootSystemID == ElToritoID }
