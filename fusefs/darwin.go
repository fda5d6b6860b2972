package fusefs

import "github.com/lklimg/lklimg/kernel/abi"

// macOS's FUSE (macFUSE) speaks the FUSE protocol with the host's own
// numbers in it: errnos, open flags, lseek's whence, setxattr's flags,
// renamex_np's flags and dev_t are Darwin's (<sys/errno.h>,
// <sys/fcntl.h>, <sys/xattr.h>, <sys/stdio.h>, <sys/types.h>), while the
// kernel's are Linux's. These are the translations, in a file of no build
// tag so that their tests run on every host; host_darwin.go uses them,
// and darwin_darwin_test.go checks the numbers against x/sys/unix's.

// darwinErrno is the Darwin errno of each kernel (Linux) errno that
// differs; the others (1 to 34 but 11) are the same number. Linux's
// errnos Darwin lacks become the nearest a macOS program understands:
// EUCLEAN (a damaged structure) is EIO, as Linux's own callers see it
// outside the filesystem; EMEDIUMTYPE (a disk format without a backend)
// ENODEV; ENOKEY and EKEYREJECTED (an encrypted file without its key)
// EACCES. ENODATA is xattr's "no such attribute" in the kernel, Darwin's
// ENOATTR; EOPNOTSUPP of an xattr call is Darwin's ENOTSUP, which tells
// macOS the filesystem holds no such attributes.
var darwinErrno = map[abi.Errno]uintptr{
	abi.EAGAIN:       35,
	abi.EDEADLK:      11,
	abi.ENAMETOOLONG: 63,
	abi.ENOSYS:       78,
	abi.ENOTEMPTY:    66,
	abi.ELOOP:        62,
	abi.ENODATA:      93, // ENOATTR
	abi.EBADMSG:      94,
	abi.EOVERFLOW:    84,
	abi.EOPNOTSUPP:   45, // ENOTSUP
	abi.ESTALE:       70,
	abi.EUCLEAN:      5, // EIO
	abi.EDQUOT:       69,
	abi.EMEDIUMTYPE:  19, // ENODEV
	abi.EKEYREJECTED: 13, // EACCES
	abi.ENOKEY:       13, // EACCES
}

// darwinErrnoOf is the Darwin errno of a kernel errno.
func darwinErrnoOf(e abi.Errno) uintptr {
	if d, ok := darwinErrno[e]; ok {
		return d
	}
	if e <= abi.ERANGE {
		return uintptr(e)
	}
	return 5 // EIO: an errno the table lacks is a kernel error all the same
}

// Darwin's open flags (<sys/fcntl.h>) the server passes on.
const (
	darwinO_SYNC      = 0x80
	darwinO_NOFOLLOW  = 0x100
	darwinO_DIRECTORY = 0x100000
	darwinO_DSYNC     = 0x400000
)

// darwinOpenFlags are the kernel's open flags for the flags of a macFUSE
// open: the access mode (the same 0, 1, 2) and the flags openFlags keeps.
func darwinOpenFlags(flags uint32) uint32 {
	return flags&abi.O_ACCMODE | mapBits(flags,
		bit{darwinO_SYNC, abi.O_SYNC},
		bit{darwinO_DSYNC, abi.O_DSYNC},
		bit{darwinO_NOFOLLOW, abi.O_NOFOLLOW},
		bit{darwinO_DIRECTORY, abi.O_DIRECTORY})
}

// bit is a flag of Darwin's and the kernel's flag for it.
type bit struct{ darwin, linux uint32 }

// mapBits is the kernel's flags for the Darwin flags, those of bits only.
func mapBits(flags uint32, bits ...bit) uint32 {
	var f uint32
	for _, b := range bits {
		if flags&b.darwin != 0 {
			f |= b.linux
		}
	}
	return f
}

// darwinWhence is lseek's whence for Darwin's: SEEK_HOLE is 3 and
// SEEK_DATA 4 there, the other way round from Linux.
func darwinWhence(whence uint32) uint32 {
	switch whence {
	case 3:
		return abi.SEEK_HOLE
	case 4:
		return abi.SEEK_DATA
	}
	return whence
}

// darwinXattrFlags are setxattr's flags for Darwin's: XATTR_CREATE 2 and
// XATTR_REPLACE 4 (XATTR_NOFOLLOW, 1, means nothing here: the server
// never follows a final symlink).
func darwinXattrFlags(flags uint32) uint32 {
	return mapBits(flags, bit{2, abi.XATTR_CREATE}, bit{4, abi.XATTR_REPLACE})
}

// darwinRenameFlags are renameat2's flags for renamex_np's: RENAME_SWAP
// (2) is RENAME_EXCHANGE, RENAME_EXCL (4) RENAME_NOREPLACE.
func darwinRenameFlags(flags uint32) uint32 {
	return mapBits(flags, bit{2, abi.RENAME_EXCHANGE}, bit{4, abi.RENAME_NOREPLACE})
}

// darwinDev is Darwin's dev_t of a device number: the major in the top
// 8 bits, the minor in the low 24 (makedev in <sys/types.h>). Numbers
// wider than that do not fit and are cut, as Darwin's own makedev cuts
// them.
func darwinDev(major, minor uint32) uint32 {
	return major&0xff<<24 | minor&0xffffff
}

// darwinDevNumbers is the major and minor of Darwin's dev_t.
func darwinDevNumbers(dev uint32) (major, minor uint32) {
	return dev >> 24, dev & 0xffffff
}
