package progress

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal (TCGETS succeeds on it, as
// isatty(3) asks), and its width in columns (0 if unknown).
func IsTerminal(f *os.File) (bool, int) {
	fd := int(f.Fd())
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return false, 0
	}
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return true, 0
	}
	return true, int(ws.Col)
}
