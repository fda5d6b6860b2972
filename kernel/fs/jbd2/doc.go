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
//   - The on-disk structures are format/jbd2's (the journal superblock,
//     descriptor, revoke and commit blocks, the tag formats and the
//     checksums, with the notes the documents leave out).
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
// # Use from a filesystem
//
// ext4 replays when its superblock has needs_recovery (and the mount is
// not noload): it builds a Journal over the journal inode's blocks, read
// from the device itself, calls Recover, and from then on reads the device
// through Overlay.Device, re-reading the superblock and group descriptors
// there, since the log often holds them. Tests compare every block with the
// replays of e2fsck and debugfs journal_run (recovery_test.go).
package jbd2
