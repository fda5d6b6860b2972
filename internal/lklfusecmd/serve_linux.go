package lklfusecmd

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// hostMountOptions are the mount options of Linux's FUSE: as root the
// server calls mount(2) itself (else through fusermount3, which takes
// "ro" from the options), read-only with the flags of a read-only mount.
func hostMountOptions(mo *fuse.MountOptions, readOnly bool) {
	mo.DirectMount = true
	if readOnly {
		mo.DirectMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY
	}
}

// detachFlag is umount -l's: the name goes now, the mount when its last
// user lets go.
const detachFlag = syscall.MNT_DETACH
