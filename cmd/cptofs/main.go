// Command cptofs copies host files into the filesystem inside a disk image,
// and cpfromfs (the same binary, called by that name or with --from)
// copies files out of one, without root, loop devices or FUSE: it boots
// the library kernel on the image, mounts it and copies as cp -a would.
//
//	cptofs   [options] -i IMAGE SRC... DST
//	cpfromfs [options] -i IMAGE SRC... DST
//
// See README.md for the options. Exit status: 0 when every entry was
// copied; 1 when some could not be (each is reported on stderr as "PATH:
// reason", the others are copied), or the copy stopped (no space left,
// the filesystem cannot be written); 2 when the image cannot be opened or
// mounted (read-write, for cptofs), or the command line is wrong. The
// image is always unmounted cleanly, so it is consistent whatever
// happened.
//
// It runs on Linux, macOS, FreeBSD and Windows (package hostcopy's host
// layers). On Windows, what NTFS cannot hold is reported: devices, FIFOs
// and sockets, names Windows refuses (CON, aux.c, a:b, "x.", names that
// differ only in case) and symlinks it will not make (without Developer
// Mode) as failed entries; owners, Unix modes and xattrs as dropped,
// each listed with -v and counted without (exit status 0 for those).
// cptofs there gives files 0644 (0755 for .exe, .com, .bat, .cmd),
// read-only ones 0444 (0555), directories 0755; -o and -g set owners.
package main

import (
	"os"

	"github.com/lklimg/lklimg/internal/cptofscmd"
)

// The command's body is in internal/cptofscmd, which lklimg runs too as
// "lklimg cp-in" and "lklimg cp-out".
func main() {
	os.Exit(cptofscmd.Run(os.Args, os.Stdout, os.Stderr))
}
