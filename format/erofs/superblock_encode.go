package erofs

// Encode writes the superblock's SuperBlockSize bytes at the start of p
// (the bytes from device offset 1024): DecodeSuperBlock's mirror. The
// checksum is written as it is; PutSuperChecksum computes it once the
// rest of the first block is final.
func (s *SuperBlock) Encode(p []byte) {
	_ = p[SuperBlockSize-1]
	clear(p[:SuperBlockSize])
	le.PutUint32(p[0:], s.Magic)
	le.PutUint32(p[4:], s.Checksum)
	le.PutUint32(p[8:], s.FeatureCompat)
	p[12] = s.BlkSzBits
	p[13] = s.SbExtSlots
	le.PutUint16(p[14:], s.RootNid)
	le.PutUint64(p[16:], s.Inos)
	le.PutUint64(p[24:], s.BuildTime)
	le.PutUint32(p[32:], s.BuildTimeNsec)
	le.PutUint32(p[36:], s.Blocks)
	le.PutUint32(p[40:], s.MetaBlkAddr)
	le.PutUint32(p[44:], s.XattrBlkAddr)
	copy(p[48:64], s.UUID[:])
	copy(p[64:80], s.VolumeName[:])
	le.PutUint32(p[80:], s.FeatureIncompat)
	le.PutUint16(p[84:], s.AvailableComprAlgs)
	le.PutUint16(p[86:], s.ExtraDevices)
	le.PutUint16(p[88:], s.DevtSlotOff)
	p[90] = s.DirBlkBits
	p[91] = s.XattrPrefixCount
	le.PutUint32(p[92:], s.XattrPrefixStart)
	le.PutUint64(p[96:], s.PackedNid)
}

// PutSuperChecksum computes the checksum of p, the ChecksumLen bytes
// from offset 1024 with the superblock encoded at their start, and
// stores it in the checksum field (what erofs_superblock_csum_verify
// checks when COMPAT_SB_CHKSUM is set).
func PutSuperChecksum(p []byte) {
	le.PutUint32(p[4:], SuperChecksum(p))
}
