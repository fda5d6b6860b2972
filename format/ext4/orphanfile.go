package ext4

// The orphan file's blocks (orphan.rst): entries of 32-bit inode numbers,
// then struct ext4_orphan_block_tail {ob_magic, ob_checksum}.
const (
	OrphanBlockMagic = 0x0b10ca04 // EXT4_ORPHAN_BLOCK_MAGIC, ob_magic
	OrphanTailSize   = 8          // struct ext4_orphan_block_tail
)

// OrphanBlockCsum is ob_checksum of the orphan file block b at blk: the
// crc32c, from seed (the orphan file inode's checksum seed), of blk as a
// little-endian 64-bit value and of the entries
// (ext4_orphan_file_block_csum).
func (fs *Geometry) OrphanBlockCsum(b []byte, blk uint64, seed uint32) uint32 {
	var nr [8]byte
	le.PutUint64(nr[:], blk)
	c := Csum32(fs.CrcTab, seed, nr[:])
	return Csum32(fs.CrcTab, c, b[:len(b)-OrphanTailSize])
}

// PutEmptyOrphanBlock fills b as an orphan file block at blk with no
// entry: zeros, the tail's magic and, with metadata_csum, its checksum
// from seed (mke2fs's mkorphan_proc).
func (fs *Geometry) PutEmptyOrphanBlock(b []byte, blk uint64, seed uint32) {
	clear(b)
	tail := b[len(b)-OrphanTailSize:]
	le.PutUint32(tail, OrphanBlockMagic)
	if fs.Super.MetadataCsum() {
		le.PutUint32(tail[4:], fs.OrphanBlockCsum(b, blk, seed))
	}
}
