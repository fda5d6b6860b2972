// Package jbd2 replays a jbd2 journal (the journal of ext3/ext4) in memory,
// as a read-only mount of Linux does, without writing the image; and
// writes transactions to it (Log, log.go), as fs/jbd2/commit.c does, for
// a read-write mount.
//
// Linux splits journaling into fs/jbd2, the journal engine, and the
// filesystem that uses it; recovery lives in fs/jbd2/recovery.c and ext4
// calls it from ext4_load_journal when the superblock has needs_recovery.
// This package plays fs/jbd2's part: recovery (Recover, then
// Overlay.Checkpoint to write a replay home) and the commit of one
// transaction at a time, checkpointed by the filesystem before the next
// (the log is emptied after each: see log.go for the order of writes).
//
// # What is implemented
//
//   - The journal superblock, v1 and v2 (superblock.go), with its crc32c
//     checksum when checksums v2 or v3 are on. Shared journals (s_nr_users
//     > 1) and unknown incompat or ro_compat features are refused.
//   - Descriptor blocks with 32- and 64-bit block tags, with no checksum,
//     checksum v2 (16-bit tag checksums) or v3 (journal_block_tag3_t),
//     escaped blocks (descriptor.go); revoke blocks with 32- or 64-bit
//     records (revoke.go); commit blocks (commit.go); the block tail
//     checksum of descriptor and revoke blocks and the commit block checksum
//     (csum.go); the old compat "checksum v1" (a crc32_be over each
//     transaction's descriptor and data blocks, checked at its commit).
//   - Recovery in the passes of recovery.c (recovery.go), following its
//     decisions exactly, including the ones that look odd (see Recover).
//
// Not implemented: fast commits (JBD2_FEATURE_INCOMPAT_FAST_COMMIT). Their
// blocks hold ext4-specific tags that ext4's own replay callback applies;
// Recover replays the normal transactions and reports that the fast commit
// area was ignored. The writer writes no revoke blocks (none are needed
// with a log emptied after each transaction), no fast commits and no
// async commits.
//
// # The overlay
//
// The kernel replays by copying each journaled block to its home location.
// Here nothing is written: Recover returns an Overlay that maps each
// filesystem block the log replays to the journal block that holds its
// newest surviving copy (and whether that copy was escaped). Only locations
// are kept, so memory is bounded by the number of tags in the log, never by
// the journal's size or by any field in it; the data is read again from the
// journal when a block is read. The filesystem then reads every block
// through the overlay first: a hit is read from the journal, a miss from
// the device.
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
//
// # Use from a filesystem
//
// ext4 replays when its superblock has needs_recovery (and the mount is
// not noload): it builds a Journal over the journal inode's blocks, read
// from the device itself, calls Recover, and from then on reads the device
// through Overlay.Device, re-reading the superblock and group descriptors
// there, since the log often holds them. Tests compare every block with the
// replays of e2fsck and debugfs journal_run (recovery_test.go).
package jbd2
