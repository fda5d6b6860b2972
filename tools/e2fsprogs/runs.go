package e2fsprogs

import disk "github.com/lklimg/lklimg/format/ext4"

// run is a piece of a file being laid out: n blocks from logical block
// lblk at physical block pblk.
type run struct{ lblk, pblk, n uint64 }

// blockRange is n blocks from block start.
type blockRange struct{ start, n uint64 }

// dquot is one id's quota entry as the quota files are written: the entry
// and its byte offset in the file (0: not placed yet).
type dquot struct {
	disk.Dqblk
	off int64
}
