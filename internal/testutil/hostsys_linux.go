//go:build linux

package testutil

import "github.com/lklimg/lklimg/internal/hostsys"

// HostSys is the host's own Linux behind the kernel's syscall signatures:
// the oracle side of the tests that run a walker on host directories.
type HostSys = hostsys.Sys
