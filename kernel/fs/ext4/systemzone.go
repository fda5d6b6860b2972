package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// checkSystemZone does the part of ext4_setup_system_zone (block_validity,
// on by default) that can refuse a mount: the journal inode of a
// filesystem with has_journal is read even when the journal is not loaded
// (noload), to protect its blocks, and a journal inode that cannot be read
// (an illegal inode number, a deleted or corrupt inode) fails the mount
// with "failed to initialize system zone".
func (f *fsys) checkSystemZone() error {
	sb := f.Super
	if !sb.HasCompat(disk.CompatHasJournal) || sb.SJournalInum == 0 {
		return nil
	}
	if _, err := f.igetFlags(sb.SJournalInum, igetSpecial); err != nil {
		f.log.Printf("EXT4-fs (%s): failed to initialize system zone: journal inode %d: %v",
			f.dev.Name(), sb.SJournalInum, err)
		return abi.Errorf(abi.ErrnoOf(err), "ext4: failed to initialize system zone: journal inode %d: %v",
			sb.SJournalInum, err)
	}
	return nil
}
