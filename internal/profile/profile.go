// Package profile writes the pprof profiles of a command's run that the
// environment asks for: LKLIMG_CPUPROFILE=FILE (CPU, the whole run),
// LKLIMG_MEMPROFILE=FILE (the live heap, taken where the command says:
// at the end of its work, before the kernel halts) and LKLIMG_TRACE=FILE
// (the runtime's execution trace, for go tool trace). They are for the
// developers' benchmarks (bench/run.sh, the README's Performance
// section), so they are environment variables, not in any command's help.
package profile

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

const (
	cpuEnv   = "LKLIMG_CPUPROFILE"
	heapEnv  = "LKLIMG_MEMPROFILE"
	traceEnv = "LKLIMG_TRACE"
)

// Start starts the CPU profile and the execution trace asked for and
// returns the function that stops them. Problems are said on stderr as
// "who: ..." and do not stop the command.
func Start(who string, getenv func(string) string, stderr io.Writer) (stop func()) {
	stopTrace := startTrace(who, getenv, stderr)
	stopCPU := startCPU(who, getenv, stderr)
	return func() {
		stopCPU()
		stopTrace()
	}
}

// startTrace starts the execution trace (go tool trace) asked for.
func startTrace(who string, getenv func(string) string, stderr io.Writer) (stop func()) {
	path := getenv(traceEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = trace.Start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", who, traceEnv, err)
		return func() {}
	}
	return func() {
		trace.Stop()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %v\n", who, traceEnv, err)
		}
	}
}

func startCPU(who string, getenv func(string) string, stderr io.Writer) (stop func()) {
	path := getenv(cpuEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", who, cpuEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", who, cpuEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %v\n", who, cpuEnv, err)
		}
	}
}

// WriteHeap writes the heap profile asked for, if any.
func WriteHeap(who string, getenv func(string) string, stderr io.Writer) {
	path := getenv(heapEnv)
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
		fmt.Fprintf(stderr, "%s: %s: %v\n", who, heapEnv, err)
	}
}
