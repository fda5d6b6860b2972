package ext4

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// Shrinking a filesystem to what it holds (resize2fs -M, for the case
// where nothing has to move), and adding a journal to one (tune2fs -j):
// tar2fs makes a large sparse filesystem without a journal, fills it
// with the "alloc=pack" mount option so that everything lies in its
// first groups, then cuts the groups nothing uses and adds the journal
// sized for what is left.

// ImageDevice is an unmounted filesystem's device, read and written in
// place: an *os.File, or a section of one.
type ImageDevice interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
}

// Minimize shrinks the unmounted filesystem on dev to the fewest blocks
// that hold everything it uses, plus free more free blocks, when no block
// or inode in use has to move; otherwise it leaves the filesystem as it
// is. It returns the new s_blocks_count.
func Minimize(dev ImageDevice, free uint64) (uint64, error) {
	return 0, abi.Errorf(abi.ENOSYS, "ext4: minimize: not implemented")
}

// AddJournal gives the unmounted filesystem on dev, which has none, an
// internal journal of blocks blocks (0: DefaultJournalBlocks for its
// size), as tune2fs -j does, in the first free run that holds it.
func AddJournal(dev ImageDevice, blocks uint32) error {
	return abi.Errorf(abi.ENOSYS, "ext4: add journal: not implemented")
}
