package ext4

// The orphan file's blocks (orphan.rst): entries of 32-bit inode numbers,
// then struct ext4_orphan_block_tail {ob_magic, ob_checksum}.
const (
	OrphanBlockMagic = 0x0b10ca04 // EXT4_ORPHAN_BLOCK_MAGIC, ob_magic
	OrphanTailSize   = 8          // struct ext4_orphan_block_tail
)
