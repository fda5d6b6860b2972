package block_test

import (
	"io"

	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The interfaces filesystems and tools use a Device through.
var (
	_ vfs.BlockDevice = (*block.Device)(nil)
	_ vfs.Readaheader = (*block.Device)(nil)
	_ io.ReaderAt     = (*block.Device)(nil)
	_ io.WriterAt     = (*block.Device)(nil)
)
