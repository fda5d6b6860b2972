// Package iso9660 is the on-disk format of ISO 9660 (ECMA-119) volumes
// with the extensions Linux's fs/isofs reads: Joliet's supplementary
// volume descriptor (UCS-2 names), El Torito's boot record, the System
// Use Sharing Protocol (SUSP 1.12) and the Rock Ridge Interchange
// Protocol (RRIP 1.10 and 1.12) in directory records' system use areas,
// and zisofs, the transparent compression of files that mkzftree and
// xorriso write (a ZF entry, a file header, block pointers, zlib blocks).
// It holds no state and does no I/O: the driver (kernel/fs/isofs) reads
// the sectors and hands them here.
//
// References, cited beside each structure: ECMA-119 4th edition (2019)
// as ECMA-119 §N; IEEE P1281 (SUSP 1.12) as SUSP §N; IEEE P1282 (RRIP
// 1.12) as RRIP §N; "The El Torito Bootable CD-ROM Format Specification"
// 1.0; Joliet is Microsoft's "Joliet Specification" (1995); zisofs is
// described in zisofs-tools' README and libisofs' doc/zisofs_format.txt.
//
// Where Linux reads the format differently from the standards, this
// package gives what Linux needs and says so: both-endian numbers are
// read from their little-endian half only (isonum_733 ignores the other,
// "due to broken mastering programs"); dates are converted with Linux's
// iso_date (the zone offset ignored when beyond ±13 hours); SL symlink
// components are joined as get_symlink_chunk joins them.
//
// Decoders check every length and offset before use and return EUCLEAN
// errors that name the structure.
package iso9660

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// SectorSize is the size of a logical sector (ECMA-119 §6.1.2): every
// volume descriptor and the system area are counted in them, whatever the
// logical block size.
const SectorSize = 2048

// le is the byte order of the halves Linux reads.
var le = binary.LittleEndian

// both733 reads a both-byte-order 32-bit number (ECMA-119 §7.3.3) from its
// little-endian half, as Linux's isonum_733 does.
func both733(p []byte) uint32 { return le.Uint32(p) }

// both723 reads a both-byte-order 16-bit number (ECMA-119 §7.2.3) from its
// little-endian half, as isonum_723 does.
func both723(p []byte) uint16 { return le.Uint16(p) }

// corrupt is the error of a damaged structure: EUCLEAN, its name first.
func corrupt(format string, args ...any) error {
	return abi.Errorf(abi.EUCLEAN, "iso9660: "+format, args...)
}
