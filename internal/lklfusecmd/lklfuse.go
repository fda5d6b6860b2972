// Package lklfusecmd is the lklfuse command, run by cmd/lklfuse and by
// "lklimg mount": it boots the library kernel on an image, mounts its
// filesystem in the kernel, and serves that mount to the host over FUSE
// (package fusefs) until the host unmounts it. cmd/lklfuse's
// documentation describes it.
package lklfusecmd

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/lklimg/lklimg/internal/profile"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the mount failed, or the image could not be left clean
	exitUsage = 2
)

// childEnv marks the background server: the command started again by
// background, with the write end of a pipe as descriptor 3.
const childEnv = "LKLFUSE_BACKGROUND_SERVER"

// readyLine is the last thing the background server writes on its pipe
// once the mount is ready; what it wrote before are its messages
// (warnings, or the error that ended it).
const readyLine = "ready\n"

// version is what -V prints.
const version = "lklfuse (lklimg) 0.1"

// Run runs the command on args (args[0] is the program's name) and
// returns its exit status. Without -f it starts itself again in the
// background and returns once that server has mounted, or has failed to.
func Run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "lklfuse: %v\n\n%s", err, usage)
		return exitUsage
	}
	switch {
	case o.help:
		fmt.Fprint(stdout, usage)
		return exitOK
	case o.version:
		fmt.Fprintln(stdout, version)
		return exitOK
	}
	if !o.foreground && os.Getenv(childEnv) == "" {
		return background(stderr)
	}
	rep, err := newReporter(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lklfuse: %v\n", err)
		return exitError
	}
	defer rep.close()
	// The server's profiles (LKLIMG_CPUPROFILE, ...): run with -f.
	stop := profile.Start("lklfuse", os.Getenv, rep)
	defer stop()
	if err := serve(o, rep, rep.ready); err != nil {
		fmt.Fprintf(rep, "lklfuse: %v\n", err)
		return exitError
	}
	return exitOK
}

// reporter carries the server's messages: until the mount is ready to
// the person who ran the command (the terminal, or in the background the
// parent waiting for the mount, which prints them), after that to the
// log file (log=), the terminal with -f, or nowhere.
type reporter struct {
	mu    sync.Mutex
	w     io.Writer // where messages go now
	after io.Writer // where they go once the mount is ready
	pipe  *os.File  // the background server's pipe to its parent
	log   *os.File
}

func newReporter(o *options, stderr io.Writer) (*reporter, error) {
	r := &reporter{w: stderr, after: stderr}
	if o.log != "" {
		f, err := os.OpenFile(o.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("log=%s: %w", o.log, err)
		}
		r.log, r.after = f, f
	}
	if r.pipe = backgroundPipe(); r.pipe != nil {
		r.w = r.pipe
		if r.log == nil {
			r.after = io.Discard
		} else {
			r.w = io.MultiWriter(r.pipe, r.log)
		}
	}
	return r, nil
}

func (r *reporter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Write(p)
}

// ready says the mount is there: the parent in the background returns.
func (r *reporter) ready() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pipe != nil {
		r.pipe.WriteString(readyLine)
		r.pipe.Close()
		r.pipe = nil
	}
	r.w = r.after
}

func (r *reporter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pipe != nil {
		r.pipe.Close()
		r.pipe = nil
	}
	if r.log != nil {
		r.log.Close()
	}
}
