package fusefs

import (
	"syscall"

	"github.com/lklimg/lklimg/kernel/abi"
)

// macFUSE's numbers are Darwin's: darwin.go translates them.

func hostErrno(e abi.Errno) syscall.Errno   { return syscall.Errno(darwinErrnoOf(e)) }
func kernelOpenFlags(flags uint32) uint32   { return darwinOpenFlags(flags) }
func kernelWhence(whence uint32) uint32     { return darwinWhence(whence) }
func kernelXattrFlags(flags uint32) uint32  { return darwinXattrFlags(flags) }
func kernelRenameFlags(flags uint32) uint32 { return darwinRenameFlags(flags) }

// kernelFallocateMode: macFUSE's fallocate is F_PREALLOCATE's, whose
// flags (contiguous, all or nothing) say how to find the space, not what
// to do with the data: Linux's mode 0, allocate.
func kernelFallocateMode(mode uint32) uint32 { return 0 }

func hostRdev(major, minor uint32) uint32 { return darwinDev(major, minor) }

func kernelRdev(rdev uint32) uint64 { return abi.Makedev(darwinDevNumbers(rdev)) }
