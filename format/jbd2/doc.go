// Package jbd2 is the on-disk format of the jbd2 journal (the journal of
// ext3 and ext4; Documentation/filesystems/ext4/journal.rst, fs/jbd2 and
// include/linux/jbd2.h, e2fsprogs lib/ext2fs/kernel-jbd.h): the journal
// superblock v1 and v2 with its crc32c checksum (superblock.go), descriptor
// blocks with 32- and 64-bit block tags with no checksum, checksum v2 or v3
// and escaped blocks (descriptor.go), revoke blocks with 32- or 64-bit
// records (revoke.go), commit blocks (commit.go), and the block tail and
// commit checksums (csum.go). The replay and the writer are the kernel's
// (kernel/fs/jbd2); the userspace tools that make a journal
// (tools/e2fsprogs) use the same structures.
//
// # Format notes the documents leave out
//
//   - Everything in the journal is big-endian, unlike ext4.
//   - jbd2_chksum is crc32c without the pre- and post-inversion of the
//     usual CRC-32C; the checksum seed is that raw crc32c, started at ~0,
//     of the journal superblock's s_uuid (for an internal journal mkfs copies
//     the filesystem's UUID there). The superblock checksum is the raw
//     crc32c, started at ~0, of the 1024-byte superblock with s_checksum
//     zeroed, and is not seeded with the UUID.
//   - In a tag, t_flags is the big-endian 16-bit word at offset 6 in every
//     tag format (in journal_block_tag3_t it is the low half of a 32-bit
//     field). Tag sizes: 8 bytes (32-bit), 12 (64-bit), 10 or 14 with
//     checksum v2, 16 with checksum v3.
//   - A revoke record with transaction R cancels the copies of its block
//     logged in transactions up to and including R; later copies replay.
//   - The log wraps from the end of the normal log area back to s_first.
//     With fast commits that end is s_maxlen - s_num_fc_blks, where the
//     kernel's writer wraps; the wrap() of recovery.c as e2fsprogs 1.47
//     copies it uses s_maxlen there, which only matters for a log that
//     wraps in a journal with fast commits.
package jbd2
