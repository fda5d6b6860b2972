//go:build linux || darwin

package lklfusecmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// background starts the same command line again as a server in a session
// of its own, its standard streams on /dev/null, and waits until it says
// the mount is ready (exit 0) or why it is not (exit 1), printing what it
// said on the way, as fuse_daemonize makes a libfuse server's caller
// wait. Go cannot fork, so the server is a new process of the same
// executable.
func background(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "lklfuse: %v\n", err)
		return exitError
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "lklfuse: %v\n", err)
		return exitError
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "lklfuse: start the server: %v\n", err)
		return exitError
	}
	w.Close()
	said, _ := io.ReadAll(r)
	r.Close()
	if msgs, ok := bytes.CutSuffix(said, []byte(readyLine)); ok {
		stderr.Write(msgs)
		cmd.Process.Release()
		return exitOK
	}
	err = cmd.Wait()
	if len(said) == 0 {
		fmt.Fprintf(stderr, "lklfuse: the server ended before mounting: %v\n", err)
	}
	stderr.Write(said)
	return exitError
}

// backgroundPipe returns the pipe to the waiting parent when this process
// is the background server, else nil.
func backgroundPipe() *os.File {
	if os.Getenv(childEnv) == "" {
		return nil
	}
	os.Unsetenv(childEnv)
	return os.NewFile(3, "ready")
}
