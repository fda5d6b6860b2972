package hostcopy

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// mknodAt makes a device, FIFO or socket node by its path: macOS has no
// mknodat. Devices need root there, as on Linux.
func mknodAt(e hostEntry, mode uint32, rdev uint64) error {
	dev := unix.Mkdev(abi.Major(rdev), abi.Minor(rdev))
	return hostErr(unix.Mknod(e.path, mode, int(dev)))
}
