package erofs

// Encode writes the inode at the start of p, compact or extended as
// Format's version bit says (InodeSize bytes): DecodeInode's mirror. A
// compact inode keeps Nlink, Size, Uid and Gid in 16 or 32 bits and has
// no time of its own: the caller chooses the extended form for values
// that do not fit (CompactFits). Mtime of a compact inode is i_reserved
// (zero in what mkfs.erofs 1.5 to 1.7 write); UHi is not written (this
// encoder never sets INlink1Bit).
func (in *Inode) Encode(p []byte) {
	n := InodeSize(in.Format)
	_ = p[n-1]
	clear(p[:n])
	le.PutUint16(p[0:], in.Format)
	le.PutUint16(p[2:], in.XattrICount)
	le.PutUint16(p[4:], in.Mode)
	if in.Extended() {
		le.PutUint64(p[8:], in.Size)
		le.PutUint32(p[16:], in.U)
		le.PutUint32(p[20:], in.Ino)
		le.PutUint32(p[24:], in.Uid)
		le.PutUint32(p[28:], in.Gid)
		le.PutUint64(p[32:], in.Mtime)
		le.PutUint32(p[40:], in.MtimeNsec)
		le.PutUint32(p[44:], in.Nlink)
		return
	}
	le.PutUint16(p[6:], uint16(in.Nlink))
	le.PutUint32(p[8:], uint32(in.Size))
	le.PutUint32(p[12:], uint32(in.Mtime))
	le.PutUint32(p[16:], in.U)
	le.PutUint32(p[20:], in.Ino)
	le.PutUint16(p[24:], uint16(in.Uid))
	le.PutUint16(p[26:], uint16(in.Gid))
}

// CompactFits reports whether the inode's link count, size and owners
// fit a compact inode's fields (erofs_should_use_inode_extended in
// erofs-utils asks the same, and also that the time is the build time).
func (in *Inode) CompactFits() bool {
	return in.Nlink <= 0xffff && in.Size <= 0xffffffff && in.Uid <= 0xffff && in.Gid <= 0xffff
}

// EncodeDev returns a device number in i_u's form, Linux's
// new_encode_dev: the minor's low byte, the major above it, the
// minor's other bits from bit 20 (Rdev's mirror).
func EncodeDev(major, minor uint32) uint32 {
	return minor&0xff | major<<8&0xfff00 | (minor&^0xff)<<12
}
