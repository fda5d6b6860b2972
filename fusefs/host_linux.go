package fusefs

import (
	"syscall"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The numbers of the host's FUSE requests and replies, and the kernel's:
// on Linux they are the same, but for device numbers, which FUSE carries
// in 32 bits as new_encode_dev makes them (darwin.go has macOS's).

func hostErrno(e abi.Errno) syscall.Errno    { return syscall.Errno(e) }
func kernelOpenFlags(flags uint32) uint32    { return flags }
func kernelWhence(whence uint32) uint32      { return whence }
func kernelXattrFlags(flags uint32) uint32   { return flags }
func kernelRenameFlags(flags uint32) uint32  { return flags }
func kernelFallocateMode(mode uint32) uint32 { return mode }

// hostRdev is new_encode_dev: the minor's low byte, the major's 12 bits,
// then the minor's other 12.
func hostRdev(major, minor uint32) uint32 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// kernelRdev is new_decode_dev.
func kernelRdev(rdev uint32) uint64 {
	return abi.Makedev(rdev&0xfff00>>8, rdev&0xff|rdev>>12&0xfff00)
}
