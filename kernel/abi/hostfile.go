package abi

// HostFile is a descriptor of the host process, outside the kernel, that
// Kernel.Sendfile writes to: a pipe, a regular file, a character device.
// *os.File is one. (Linux's sendfile takes two of its own descriptors;
// here the output is the host's, as the library kernel's programs write
// their results to the host.)
type HostFile interface {
	Fd() uintptr
}

// HostWriteError is a failure to write a HostFile (EPIPE, ENOSPC, ...): the
// output's, not the file's being read. Err is the host's error, so that
// errors.Is(err, syscall.EPIPE) holds.
type HostWriteError struct{ Err error }

func (e *HostWriteError) Error() string { return "write: " + e.Err.Error() }
func (e *HostWriteError) Unwrap() error { return e.Err }
