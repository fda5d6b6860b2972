package fs2tarcmd

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the pipe buffer fs2tar asks for when its output is a pipe:
// the tar writer's buffer (archive.DefaultBufferSize), so that one write
// of it fills the pipe at once and the reader drains it while the next
// is read from the image, instead of the two taking turns over Linux's
// default 64 KiB (16 context switches per write).
const pipeSize = 1 << 20

// growPipe enlarges the pipe buffer of f if f is a pipe (F_SETPIPE_SZ).
// It is a hint: an unprivileged process is bounded by
// /proc/sys/fs/pipe-max-size (1 MiB by default), and a failure is ignored.
func growPipe(f *os.File) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, pipeSize)
}
