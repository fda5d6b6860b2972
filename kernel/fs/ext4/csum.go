package ext4

import "hash/crc32"

// Checksums (Documentation/filesystems/ext4/checksums.rst).
//
// metadata_csum uses crc32c as the kernel's ext4_chksum computes it: the
// running value is neither inverted on entry nor on exit, so that a
// checksum can be continued over several buffers. Go's crc32.Update inverts
// both ways, hence the complements here.

// csum32 continues a raw crc32c from crc over p.
func csum32(tab *crc32.Table, crc uint32, p []byte) uint32 {
	return ^crc32.Update(^crc, tab, p)
}

// crc16 is the CRC-16 (polynomial 0x8005, bit-reversed 0xA001) of
// lib/crc16.c that the older gdt_csum feature uses for group descriptors.
func crc16(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc ^= uint16(b)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
