// Command fs2tar writes the filesystem inside a disk image as a tar
// archive, without root, loop devices or FUSE: it boots the library
// kernel on the image, read-only, and archives what the kernel shows.
//
//	fs2tar [options] IMAGE [OUTPUT]
//
// OUTPUT omitted or "-" is stdout. See README.md for the options. Exit status: 0 when every entry was
// archived; 1 when some entries could not be (each is reported on stderr,
// the archive holds the others; an encrypted file or directory, which
// cannot be read without its key, is one of them: "fs2tar: PATH:
// encrypted, no key: skipped"; with --strict, the first one ends the
// archive, which stays a valid tar) or the output failed; 2 when the image
// cannot be opened or mounted, or the command line is wrong. A reader
// that stops reading (a closed pipe) ends fs2tar quietly, with status 141
// as a program killed by SIGPIPE.
package main

import (
	"os"

	"github.com/lklimg/lklimg/internal/fs2tarcmd"
)

// The command's body is in internal/fs2tarcmd, which lklimg runs too as
// "lklimg fs2tar".
func main() {
	os.Exit(fs2tarcmd.Run(os.Args, os.Stdout, os.Stderr))
}
