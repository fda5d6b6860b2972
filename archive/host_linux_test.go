package archive

import (
	"github.com/lklimg/lklimg/internal/testutil"
)

// hostSys runs the exporter on the host's own kernel: the same syscalls,
// so Export can be tested against a host directory, with GNU tar and the
// host's idea of every entry as the oracle.
type hostSys = testutil.HostSys

var _ Syscalls = hostSys{}
