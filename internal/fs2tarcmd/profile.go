package fs2tarcmd

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// profileEnv names a file to write a CPU profile of the run to, and
// heapProfileEnv one for a heap profile taken at its end (before the
// kernel halts: the live heap of an export). They are for the developers'
// benchmarks (bench/run.sh, README's Performance section), so they are
// environment variables and not in the user-facing help.
const (
	profileEnv     = "FS2TAR_CPUPROFILE"
	heapProfileEnv = "FS2TAR_MEMPROFILE"
)

// startProfile starts the CPU profile asked for by profileEnv and returns
// the function that stops it; problems are reported on stderr and do not
// stop the command.
func startProfile(getenv func(string) string, stderr io.Writer) (stop func()) {
	path := getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "fs2tar: %s: %v\n", profileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "fs2tar: %s: %v\n", profileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "fs2tar: %s: %v\n", profileEnv, err)
		}
	}
}

// writeHeapProfile writes the heap profile asked for by heapProfileEnv.
func writeHeapProfile(getenv func(string) string, stderr io.Writer) {
	path := getenv(heapProfileEnv)
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "fs2tar: %s: %v\n", heapProfileEnv, err)
	}
}
