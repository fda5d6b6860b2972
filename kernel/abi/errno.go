package abi

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Errno is a Linux error number (include/uapi/asm-generic/errno-base.h and
// errno.h). It is the error type of every syscall; errors.Is matches it
// against the io/fs sentinels as syscall.Errno does.
type Errno uintptr

// The Linux errno values the kernel returns.
const (
	EPERM        Errno = 1
	ENOENT       Errno = 2
	EINTR        Errno = 4
	EIO          Errno = 5
	ENXIO        Errno = 6
	E2BIG        Errno = 7
	EBADF        Errno = 9
	EAGAIN       Errno = 11
	ENOMEM       Errno = 12
	EACCES       Errno = 13
	EFAULT       Errno = 14
	ENOTBLK      Errno = 15
	EBUSY        Errno = 16
	EEXIST       Errno = 17
	EXDEV        Errno = 18
	ENODEV       Errno = 19
	ENOTDIR      Errno = 20
	EISDIR       Errno = 21
	EINVAL       Errno = 22
	ENFILE       Errno = 23
	EMFILE       Errno = 24
	ENOTTY       Errno = 25
	ETXTBSY      Errno = 26
	EFBIG        Errno = 27
	ENOSPC       Errno = 28
	ESPIPE       Errno = 29
	EROFS        Errno = 30
	EMLINK       Errno = 31
	EPIPE        Errno = 32
	ERANGE       Errno = 34
	EDEADLK      Errno = 35
	ENAMETOOLONG Errno = 36
	ENOSYS       Errno = 38
	ENOTEMPTY    Errno = 39
	ELOOP        Errno = 40
	ENODATA      Errno = 61
	EBADMSG      Errno = 74 // "Bad message": ext4's EFSBADCRC, a checksum that does not match
	EOVERFLOW    Errno = 75
	EOPNOTSUPP   Errno = 95
	ESTALE       Errno = 116
	EUCLEAN      Errno = 117 // "Structure needs cleaning": ext4's EFSCORRUPTED
	EDQUOT       Errno = 122
	EMEDIUMTYPE  Errno = 124 // "Wrong medium type": an image format without a backend
	EKEYREJECTED Errno = 129
	ENOKEY       Errno = 126
)

// EFSCORRUPTED is the name ext4 and xfs give EUCLEAN.
const EFSCORRUPTED = EUCLEAN

// EFSBADCRC is the name ext4 and xfs give EBADMSG: metadata whose
// checksum does not match (fs/ext4/ext4.h).
const EFSBADCRC = EBADMSG

var errnoNames = map[Errno]string{
	EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
	E2BIG: "E2BIG", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
	EACCES: "EACCES", EFAULT: "EFAULT", ENOTBLK: "ENOTBLK", EBUSY: "EBUSY",
	EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR",
	EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
	ENOTTY: "ENOTTY", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG", ENOSPC: "ENOSPC",
	ESPIPE: "ESPIPE", EROFS: "EROFS", EMLINK: "EMLINK", EPIPE: "EPIPE",
	ERANGE: "ERANGE", EDEADLK: "EDEADLK", ENAMETOOLONG: "ENAMETOOLONG",
	ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", ENODATA: "ENODATA", EBADMSG: "EBADMSG",
	EOVERFLOW: "EOVERFLOW", EOPNOTSUPP: "EOPNOTSUPP", ESTALE: "ESTALE",
	EUCLEAN: "EUCLEAN", EDQUOT: "EDQUOT", EMEDIUMTYPE: "EMEDIUMTYPE", EKEYREJECTED: "EKEYREJECTED", ENOKEY: "ENOKEY",
}

// errnoMessages are the errnos' messages as Linux's C library gives them
// (strerror), the same on every host: a host's own text for the number
// means another error off Linux (20 is "Bad unit." on Windows).
var errnoMessages = map[Errno]string{
	EPERM: "Operation not permitted", ENOENT: "No such file or directory", EINTR: "Interrupted system call",
	EIO: "Input/output error", ENXIO: "No such device or address", E2BIG: "Argument list too long",
	EBADF: "Bad file descriptor", EAGAIN: "Resource temporarily unavailable", ENOMEM: "Cannot allocate memory",
	EACCES: "Permission denied", EFAULT: "Bad address", ENOTBLK: "Block device required",
	EBUSY: "Device or resource busy", EEXIST: "File exists", EXDEV: "Invalid cross-device link",
	ENODEV: "No such device", ENOTDIR: "Not a directory", EISDIR: "Is a directory",
	EINVAL: "Invalid argument", ENFILE: "Too many open files in system", EMFILE: "Too many open files",
	ENOTTY: "Inappropriate ioctl for device", ETXTBSY: "Text file busy", EFBIG: "File too large",
	ENOSPC: "No space left on device", ESPIPE: "Illegal seek", EROFS: "Read-only file system",
	EMLINK: "Too many links", EPIPE: "Broken pipe", ERANGE: "Numerical result out of range",
	EDEADLK: "Resource deadlock avoided", ENAMETOOLONG: "File name too long", ENOSYS: "Function not implemented",
	ENOTEMPTY: "Directory not empty", ELOOP: "Too many levels of symbolic links", ENODATA: "No data available", EBADMSG: "Bad message",
	EOVERFLOW: "Value too large for defined data type", EOPNOTSUPP: "Operation not supported",
	ESTALE: "Stale file handle", EUCLEAN: "Structure needs cleaning", EDQUOT: "Disk quota exceeded",
	EMEDIUMTYPE: "Wrong medium type", EKEYREJECTED: "Key was rejected by service", ENOKEY: "Required key not available",
}

// Message returns the errno's message as strerror gives it on Linux
// ("No such file or directory"), whatever the host.
func (e Errno) Message() string {
	if s, ok := errnoMessages[e]; ok {
		return s
	}
	return "Unknown error " + strconv.Itoa(int(e))
}

// Error returns the errno's symbolic name, as strace prints it.
func (e Errno) Error() string {
	if s, ok := errnoNames[e]; ok {
		return s
	}
	return "errno " + strconv.Itoa(int(e))
}

// Is lets errors.Is(err, fs.ErrNotExist) and friends work on an Errno.
func (e Errno) Is(target error) bool {
	switch target {
	case fs.ErrPermission:
		return e == EACCES || e == EPERM
	case fs.ErrExist:
		return e == EEXIST || e == ENOTEMPTY
	case fs.ErrNotExist:
		return e == ENOENT
	case errors.ErrUnsupported:
		return e == ENOSYS || e == EOPNOTSUPP
	}
	return false
}

// Error is an errno with the reason the kernel had for it, such as which
// on-disk structure failed its checks. errors.Is and ErrnoOf see the errno.
type Error struct {
	Errno  Errno
	Detail string
}

func (e *Error) Error() string { return e.Errno.Error() + " (" + e.Detail + ")" }

// Unwrap exposes the errno to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Errno }

// Errorf returns an errno carrying a formatted reason.
func Errorf(errno Errno, format string, args ...any) error {
	return &Error{Errno: errno, Detail: fmt.Sprintf(format, args...)}
}

// ErrnoOf returns the errno an error carries: the Errno itself, the errno of
// a wrapped *Error, or EIO for any other non-nil error.
func ErrnoOf(err error) Errno {
	if err == nil {
		return 0
	}
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return EIO
}
