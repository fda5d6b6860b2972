// Command fs2tar writes the filesystem inside a disk image as a tar
// archive, without root, loop devices or FUSE: it boots the library
// kernel on the image, read-only, and archives what the kernel shows.
//
//	fs2tar [options] IMAGE [OUTPUT]
//
// OUTPUT omitted or "-" is stdout. Exit status: 0 when every entry was
// archived; 1 when some entries could not be (each is reported on stderr,
// the archive holds the others; with --strict, the first one ends the
// archive, which stays a valid tar) or the output failed; 2 when the image
// cannot be opened or mounted, or the command line is wrong. A reader
// that stops reading (a closed pipe) ends fs2tar quietly, with status 141
// as a program killed by SIGPIPE.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/urfave/cli/v2"
)

// Exit statuses.
const (
	exitOK      = 0
	exitEntries = 1 // some entries failed, or the output did
	exitImage   = 2 // the image cannot be used, or a usage error
	exitPipe    = 128 + 13
)

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

// run is the command with its streams, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	var disk cliflags.Disk
	var selinux string
	var strict bool
	status := exitOK
	app := &cli.App{
		Name:      "fs2tar",
		Usage:     "write the filesystem of a disk image as a tar archive",
		UsageText: "fs2tar [options] IMAGE [OUTPUT|-]",
		Description: "The image is opened read-only and never written. OUTPUT omitted or - is stdout.\n" +
			"Exit status: 0 ok; 1 some entries could not be archived (each is reported) or the\n" +
			"output failed; 2 the image cannot be opened or mounted, or a usage error.",
		Flags: append(disk.Flags(),
			&cli.StringFlag{Name: "selinux", Aliases: []string{"s", "selinux-contexts"}, Destination: &selinux,
				Usage: "write the SELinux context of every entry to `FILE` (\"PATH CONTEXT\" lines)"},
			&cli.BoolFlag{Name: "strict", Destination: &strict,
				Usage: "stop at the first entry that cannot be archived (exit 1; the archive is a valid tar of the entries before it)"}),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return err
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return fmt.Errorf("usage: fs2tar [options] IMAGE [OUTPUT|-]")
			}
			status = export(&disk, c.Args().Get(0), c.Args().Get(1), selinux, strict, stdout, stderr)
			return nil
		},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "fs2tar: %v\n", err)
		return exitImage
	}
	return status
}

// export is the one library call, wrapped in opening the image and the
// output; it returns the exit status.
func export(disk *cliflags.Disk, image, output, selinuxPath string, strict bool, stdout, stderr io.Writer) int {
	fail := func(status int, err error) int {
		fmt.Fprintf(stderr, "fs2tar: %v\n", err)
		return status
	}
	m, err := disk.Mount(image, true, stderr)
	if err != nil {
		return fail(exitImage, err)
	}
	defer m.Kernel.Halt()

	out := stdout
	var file *os.File
	if output != "" && output != "-" {
		file, err = os.Create(output)
		if err != nil {
			return fail(exitEntries, err)
		}
		defer file.Close() // on early returns; the normal path checks Close
		out = file
	}
	opts := archive.Options{
		Report: func(err error) { fmt.Fprintf(stderr, "fs2tar: %v\n", err) },
		Strict: strict,
	}
	var contexts *bufio.Writer // one write per line would be one syscall per file
	if selinuxPath != "" {
		f, err := os.Create(selinuxPath)
		if err != nil {
			return fail(exitEntries, err)
		}
		defer f.Close()
		contexts = bufio.NewWriter(f)
		opts.SELinuxFile = contexts
	}

	err = archive.Export(m.Kernel, m.Dir, out, opts)
	if err == nil && file != nil {
		err = file.Close() // an NFS or quota failure may show only here
	}
	if contexts != nil {
		if ferr := contexts.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("%s: %w", selinuxPath, ferr)
		}
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, syscall.EPIPE):
		return exitPipe
	default:
		// ErrIncomplete (entries reported above) or the output failed.
		return fail(exitEntries, err)
	}
}
