// Command lklimg looks inside the filesystem of a disk image, and changes
// it, without root, loop devices or FUSE: it boots the library kernel on
// the image and answers as the GNU tool of the same name would on the
// image mounted at "/".
//
//	lklimg ls [-l] [-a] [-R] [options] IMAGE [PATH...]
//	lklimg cat      [options] IMAGE PATH...
//	lklimg stat     [options] IMAGE PATH...
//	lklimg df       [options] IMAGE
//	lklimg getfattr [options] IMAGE PATH...
//	lklimg info     [options] IMAGE
//
// and, making a new filesystem (as mke2fs 1.47 lays it out; -d copies a
// host directory in, as mke2fs -d):
//
//	lklimg mkfs [-t ext4|ext3|ext2] [-s SIZE] [-b BLOCKSIZE] [-N INODES] [-I INODE_SIZE]
//	            [-i BYTES_PER_INODE] [-m PERCENT] [-L LABEL] [-U UUID]
//	            [-E hash_seed=UUID,root_owner=UID:GID,encoding=utf8,encoding_flags=strict]
//	            [-O FEATURES] [-J size=MiB]
//	            [-d DIR] [-q] [-F] IMAGE
//
// and, a FAT volume laid out as mkfs.fat 4.2 lays it out, its options
// mkfs.fat's letters (SIZE creates or resizes the file):
//
//	lklimg mkfs -t vfat|msdos [-F 12|16|32] [-n LABEL] [-i VOLID] [-S SECTOR_SIZE]
//	            [-s SECTORS_PER_CLUSTER] [-R RESERVED] [-r ROOT_ENTRIES] [-f FATS]
//	            [-h HIDDEN] [-M MEDIA] [-g HEADS/SECTORS] [-D DRIVE] [-b BACKUP]
//	            [-a] [--invariant] [-q] IMAGE [SIZE]
//
// mkfs exits 2 when it refuses (a wrong option, parameters mke2fs would
// refuse, an existing filesystem without -F), leaving IMAGE as it was; 1
// when writing failed or -d could not copy some entries.
//
// and, with the image mounted read-write and unmounted cleanly after:
//
//	lklimg mkdir [-p] [-m MODE] [options] IMAGE PATH...
//	lklimg rmdir    [options] IMAGE PATH...
//	lklimg rm [-r] [-f] [options] IMAGE PATH...
//	lklimg mv       [options] IMAGE SRC... DST
//	lklimg ln [-s] [-f] [options] IMAGE TARGET LINKNAME
//	lklimg chmod    [options] MODE IMAGE PATH...
//	lklimg chown    [options] OWNER[:GROUP] IMAGE PATH...
//	lklimg touch [-d DATE] [options] IMAGE PATH...
//	lklimg setfattr {-n NAME [-v VALUE] | -x NAME} [options] IMAGE PATH...
//
// and, as the commands named, with their own options (before the
// operands, as there), messages and exit statuses (internal/lklimgcmd/alias.go):
//
//	lklimg fs2tar [options] IMAGE [OUTPUT|-]      (fs2tar)
//	lklimg cp-in  [options] -i IMAGE SRC... DST   (cptofs)
//	lklimg cp-out [options] -i IMAGE SRC... DST   (cpfromfs)
//
// and, making a new image from a tar archive, with options of its own
// (internal/lklimgcmd/tar2fs.go):
//
//	lklimg tar2fs [-t TYPE] [-s SIZE] [--free SIZE] [-b BS] [-N INODES] [-L LABEL]
//	              [-U UUID] [-E OPTS] [-O FEATURES] [--whiteouts overlay] [-q] TAR|- IMAGE
//
// The options are the shared disk flags (-P, -t, -m, -p, --no-journal;
// mkdir's own -m and -p leave those two as --mb and --enable-printk).
// Options may follow operands, as with GNU getopt; "--" ends them.
// Every subcommand goes through the kernel's syscalls only (openat,
// getdents64, statx, readlinkat, read, listxattr, getxattr, statfs;
// mkdirat, unlinkat, renameat2, linkat, symlinkat, fchmodat, fchownat,
// utimensat, setxattr, removexattr), as the GNU tool does through the
// host's, so what it shows or does is what Linux would. Paths are inside the image; "/" is its root. Absolute
// symlink targets resolve outside the image, as they would on a mount.
//
// Exit status: as the GNU tool (ls: 1 for a problem inside a listing, 2
// for a command-line PATH it cannot access; the others: 1 for any PATH
// that failed); 2 when the image cannot be opened or mounted, or the
// command line is wrong.
package main

import (
	"os"

	"github.com/lklimg/lklimg/internal/lklimgcmd"
)

// The command's body is in internal/lklimgcmd.
func main() {
	os.Exit(lklimgcmd.Run(os.Args, os.Stdout, os.Stderr))
}
