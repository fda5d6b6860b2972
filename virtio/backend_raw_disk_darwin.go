package virtio

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The ioctls of <sys/disk.h> that size a macOS disk.
const (
	dkiocGetBlockSize  = 0x40046418 // DKIOCGETBLOCKSIZE: _IOR('d', 24, uint32_t)
	dkiocGetBlockCount = 0x40086419 // DKIOCGETBLOCKCOUNT: _IOR('d', 25, uint64_t)
)

// hostDisk sizes a macOS disk, /dev/diskN (a block device) or /dev/rdiskN
// (its raw, character twin, faster, whose I/O must be whole sectors):
// DKIOCGETBLOCKCOUNT sectors of DKIOCGETBLOCKSIZE bytes. Another file is
// not one (ok false).
func hostDisk(f *os.File, path string) (size, sector int64, ok bool, err error) {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeDevice == 0 {
		return 0, 0, false, nil
	}
	fd := int(f.Fd())
	// IoctlGetInt's int is 64 bits, zeroed: the 32 bits of the block
	// size land in its low half (every Mac is little-endian).
	bs, err := unix.IoctlGetInt(fd, dkiocGetBlockSize)
	if err != nil {
		return 0, 0, false, fmt.Errorf("virtio: %s: DKIOCGETBLOCKSIZE: %w", path, err)
	}
	n, err := unix.IoctlGetInt(fd, dkiocGetBlockCount) // an int is the ioctl's 64 bits here
	if err != nil {
		return 0, 0, false, fmt.Errorf("virtio: %s: DKIOCGETBLOCKCOUNT: %w", path, err)
	}
	if bs == 0 || bs&(bs-1) != 0 || n < 0 {
		return 0, 0, false, fmt.Errorf("virtio: %s: a disk of %d sectors of %d bytes", path, n, bs)
	}
	return int64(n) * int64(bs), int64(bs), true, nil
}
