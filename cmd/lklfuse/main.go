// Command lklfuse mounts the filesystem inside a disk image through FUSE,
// read-write, without root or a loop device: it boots the library kernel
// on the image and serves its mount to the host, each request one of the
// kernel's syscalls, as LKL's lklfuse does.
//
//	lklfuse [-o OPTIONS] [-f] [-d] [-s] IMAGE MOUNTPOINT
//
// Options: LKL's type=, part=, ro, mb=, opts= (the filesystem's mount
// options), log=; FUSE's allow_other, allow_root, fsname=, subtype=,
// attr_timeout=, entry_timeout=, and any other passed to the host's
// mount. It returns once the mount is ready and serves it in the
// background until it is unmounted (fusermount3 -u, umount) or until
// SIGTERM or SIGINT, which unmount it; the image is then clean (journal
// committed, e2fsck -fn clean). Exit status: 0 when mounted (in the
// foreground: when unmounted and left clean), 1 when the mount or the
// image failed, 2 for a wrong command line.
package main

import (
	"os"

	"github.com/lklimg/lklimg/internal/lklfusecmd"
)

// The command's body is in internal/lklfusecmd, which lklimg runs too as
// "lklimg mount".
func main() {
	os.Exit(lklfusecmd.Run(os.Args, os.Stdout, os.Stderr))
}
