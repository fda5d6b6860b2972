package hostcopy

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// mknodAt makes a device, FIFO or socket node as name in its directory.
// FreeBSD's devices live in devfs: mknod of one elsewhere fails, and is
// reported.
func mknodAt(e hostEntry, mode uint32, rdev uint64) error {
	dev := unix.Mkdev(abi.Major(rdev), abi.Minor(rdev))
	return hostErr(unix.Mknodat(e.dir, e.name, mode, dev))
}
