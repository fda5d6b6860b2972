package lklfusecmd

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// hostMountOptions are the mount options of macFUSE (mount_macfuse, which
// go-fuse runs): without noappledouble, Finder and the copy tools would
// write "._name" AppleDouble files for the attributes an image's
// filesystem refuses (Linux has no com.apple.* xattrs), and .DS_Store
// files, into the image.
func hostMountOptions(mo *fuse.MountOptions, readOnly bool) {
	mo.Options = append(mo.Options, "noappledouble")
}

// detachFlag is umount -f's (MNT_FORCE): Darwin has no lazy unmount.
const detachFlag = unix.MNT_FORCE
