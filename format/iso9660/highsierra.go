package iso9660

import "bytes"

// High Sierra, the 1986 draft ISO 9660 grew from, which Linux still reads
// (s_high_sierra in fs/isofs; struct hs_volume_descriptor and
// hs_primary_descriptor in include/uapi/linux/iso_fs.h). Its descriptors
// start with their own logical block number (733), then the type and
// "CDROM":
//
//	  0 volume descriptor LBN (733)   8 type   9 id "CDROM"   14 version
//	 16 system id[32]    48 volume id[32]   88 volume space size (733)
//	128 volume set size (723)   132 volume sequence number (723)
//	136 logical block size (723)   140 path table size (733)
//	180 root directory record[34]
//
// Its directory records are ECMA-119's but for the date, six bytes
// without a zone offset, so that the flags are at byte 24 (Linux reads
// de->flags[-high_sierra]; byte 25 is reserved). It has no SUSP.

// HSStandardID is the standard identifier of a High Sierra descriptor.
const HSStandardID = "CDROM"

// IsHSDescriptor reports whether the sector p holds a High Sierra volume
// descriptor: "CDROM" at byte 9. Linux checks for "CD001" first, which
// an ISO 9660 descriptor has at byte 1.
func IsHSDescriptor(p []byte) bool {
	return len(p) >= 15 && string(p[9:14]) == HSStandardID && !IsDescriptor(p)
}

// HSType is a High Sierra descriptor's type (byte 8), numbered as
// ECMA-119's.
func HSType(p []byte) uint8 { return p[8] }

// DecodeHSVolumeDescriptor decodes a High Sierra standard file structure
// (primary) descriptor from its sector p into the fields Linux reads:
// the volume space and logical block sizes and the root's record.
func DecodeHSVolumeDescriptor(p []byte) (*VolumeDescriptor, error) {
	if len(p) < SectorSize {
		return nil, corrupt("High Sierra volume descriptor: %d bytes, want %d", len(p), SectorSize)
	}
	if !IsHSDescriptor(p) {
		return nil, corrupt("High Sierra volume descriptor: no %q", HSStandardID)
	}
	if p[8] != TypePrimary {
		return nil, corrupt("High Sierra volume descriptor: type %d is not primary", p[8])
	}
	d := &VolumeDescriptor{
		Type:             p[8],
		Version:          p[14],
		SystemID:         string(bytes.TrimRight(p[16:48], " \x00")),
		VolumeID:         string(bytes.TrimRight(p[48:80], " \x00")),
		VolumeSpaceSize:  both733(p[88:]),
		VolumeSetSize:    both723(p[128:]),
		VolumeSeqNumber:  both723(p[132:]),
		LogicalBlockSize: both723(p[136:]),
		PathTableSize:    both733(p[140:]),
	}
	root, err := decodeRootRecord(p[180:], true)
	if err != nil {
		return nil, err
	}
	d.Root = root
	return d, nil
}

// DecodeHSDirRecord decodes a High Sierra directory record as
// DecodeDirRecord does an ECMA-119 one: the flags from byte 24, and the
// date's zone offset (ECMA-119's seventh byte, the flags here) zero, as
// Linux's iso_date(de->date, high_sierra) leaves it.
func DecodeHSDirRecord(p []byte) (DirRecord, error) {
	r, err := DecodeDirRecord(p)
	if err != nil {
		return r, err
	}
	r.Flags = p[24]
	r.Date[6] = 0
	return r, nil
}
