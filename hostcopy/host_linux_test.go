package hostcopy

import (
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// hostKernel runs the copies on the host's own kernel: the same
// syscalls, so To and From can be tested host directory to host
// directory, with the host's idea of every entry as the oracle.
type hostKernel = testutil.HostSys

var _ Kernel = hostKernel{}

// failing is hostKernel with one syscall failing: Pwrite writes short
// when it reaches budget bytes, as a filling filesystem does, then fails
// with ENOSPC; every creation fails with ENOSYS when noWrite.
type failing struct {
	hostKernel
	budget  int64
	noWrite bool
}

func (f *failing) Pwrite(fd int, p []byte, off int64) (int, error) {
	if f.budget == 0 {
		return 0, abi.ENOSPC
	}
	p = p[:min(int64(len(p)), f.budget)]
	n, err := f.hostKernel.Pwrite(fd, p, off)
	f.budget -= int64(n)
	return n, err
}

func (f *failing) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	if f.noWrite && flags&abi.O_CREAT != 0 {
		return -1, abi.ENOSYS
	}
	return f.hostKernel.Openat(dirfd, path, flags, mode)
}

func (f *failing) Mkdirat(dirfd int, path string, mode uint32) error {
	if f.noWrite {
		return abi.ENOSYS
	}
	return f.hostKernel.Mkdirat(dirfd, path, mode)
}
