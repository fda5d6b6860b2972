//go:build !linux

package progress

import "os"

// IsTerminal reports false where we do not ask the system: no bar is
// better than escape codes in a log.
func IsTerminal(f *os.File) (bool, int) { return false, 0 }
