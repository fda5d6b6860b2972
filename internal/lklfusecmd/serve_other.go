//go:build !linux && !darwin

package lklfusecmd

import (
	"errors"
	"io"
	"os"
	"runtime"
)

// errHost is what lklfuse says on a host it cannot serve FUSE on yet.
var errHost = errors.New("lklfuse runs on Linux hosts for now, not on " + runtime.GOOS)

func serve(o *options, msgs io.Writer, ready func()) error { return errHost }

func background(stderr io.Writer) int {
	io.WriteString(stderr, "lklfuse: "+errHost.Error()+"\n")
	return exitError
}

func backgroundPipe() *os.File { return nil }
