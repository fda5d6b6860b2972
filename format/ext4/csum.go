package ext4

import "hash/crc32"

// Csum32 continues a raw crc32c from crc over p.
func Csum32(tab *crc32.Table, crc uint32, p []byte) uint32 {
	return ^crc32.Update(^crc, tab, p)
}

// Crc16 is the CRC-16 (polynomial 0x8005, bit-reversed 0xA001) of
// lib/crc16.c that the older gdt_csum feature uses for group descriptors.
func Crc16(crc uint16, p []byte) uint16 {
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
