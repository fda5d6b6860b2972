package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// replayLog would replay the log tree (tree-log.c btrfs_recover_log_trees):
// the changes fsynced after the last commit.
func (f *fsys) replayLog() error {
	return abi.Errorf(abi.EOPNOTSUPP, "btrfs: log tree present (changes fsynced after the last commit), which this kernel does not replay: mount with -o rescue=nologreplay to read the last committed state")
}
