// Package cptofscmd is the cptofs command, which is cpfromfs too when
// called by that name or with --from: its flags, help, messages and exit
// statuses, run by cmd/cptofs and by "lklimg cp-in" and "lklimg cp-out",
// which behave alike byte for byte. cmd/cptofs's documentation describes
// it.
package cptofscmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/profile"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// Exit statuses.
const (
	exitOK      = 0
	exitEntries = 1 // some entries failed, or the copy stopped
	exitImage   = 2 // the image cannot be used, or a usage error
)

// flags are the command line, bound by its flag definitions.
type flags struct {
	disk       cliflags.Disk
	verbosity  cliflags.Verbosity
	image      string
	owner      string
	group      string
	selinux    string
	preserve   bool
	from       bool
	dryRun     bool
	name       string // cptofs or cpfromfs, for messages
	fromByName bool
}

// Run runs the command on args with its streams and returns the exit
// status (within the profiles the environment asks for: internal/profile).
// args[0] is the program's name, as os.Args: "cpfromfs" (or a
// path ending in it) copies out, anything else copies in unless --from
// says otherwise. Its messages say "cptofs:" or "cpfromfs:" whoever runs
// it: lklimg's cp-in and cp-out are the same commands.
func Run(args []string, stdout, stderr io.Writer) int {
	defer profile.Start("cptofs", os.Getenv, stderr)()
	var f flags
	f.name = "cptofs"
	if len(args) > 0 && strings.TrimSuffix(filepath.Base(args[0]), ".exe") == "cpfromfs" {
		f.name, f.from, f.fromByName = "cpfromfs", true, true
	}
	status := exitOK
	app := &cli.App{
		Name:  f.name,
		Usage: "copy files into (cptofs) or out of (cpfromfs, or --from) the filesystem of a disk image",
		UsageText: "cptofs [options] -i IMAGE SRC... DST   (host SRC, image DST)\n" +
			"cpfromfs [options] -i IMAGE SRC... DST (image SRC, host DST)",
		Description: "Directories are copied recursively and merged into existing ones; existing files are\n" +
			"replaced. Owners are kept as root or with --preserve. The last component of a SRC may be\n" +
			"a shell pattern (for cpfromfs, matched against the image's names).\n" +
			"Exit status: 0 ok; 1 some entries could not be copied (each is reported) or the copy\n" +
			"stopped (no space left); 2 the image cannot be opened or mounted, or a usage error.",
		Flags: append(append(f.disk.Flags(), []cli.Flag{
			&cli.StringFlag{Name: "image", Aliases: []string{"i"}, Destination: &f.image,
				Usage: "the disk image `FILE` (required)"},
			&cli.StringFlag{Name: "owner", Aliases: []string{"o"}, Destination: &f.owner,
				Usage: "give every copied entry the owner `UID`"},
			&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Destination: &f.group,
				Usage: "give every copied entry the group `GID`"},
			&cli.StringFlag{Name: "selinux", Aliases: []string{"s"}, Destination: &f.selinux,
				Usage: "give every copied entry the SELinux `CONTEXT` (security.selinux)"},
			&cli.BoolFlag{Name: "preserve", Destination: &f.preserve,
				Usage: "keep owners even when not run as root (as root they always are)"},
			&cli.BoolFlag{Name: "from", Destination: &f.from,
				Usage: "copy out of the image, as cpfromfs"},
			&cli.BoolFlag{Name: "dry-run", Destination: &f.dryRun,
				Usage: "say what would be copied where, change nothing (the image is opened read-only)"},
		}...), f.verbosity.Flags()...),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return err
		},
		Action: func(c *cli.Context) error {
			// urfave/cli sets each Destination to its flag's default
			// first: the name's choice is applied here.
			if f.fromByName {
				f.from = true
			}
			if f.from {
				f.name = "cpfromfs"
			}
			if f.image == "" {
				return errors.New("-i IMAGE is required")
			}
			if c.NArg() < 2 {
				return fmt.Errorf("usage: %s [options] -i IMAGE SRC... DST", f.name)
			}
			args := c.Args().Slice()
			status = copyFiles(&f, args[:len(args)-1], args[len(args)-1], stdout, stderr)
			return nil
		},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f.name, err)
		return exitImage
	}
	return status
}

// options turns the flags into hostcopy.Options.
func (f *flags) options() (hostcopy.Options, error) {
	opts := hostcopy.Options{
		Owners:  os.Geteuid() == 0 || f.preserve,
		SELinux: f.selinux,
		DryRun:  f.dryRun,
	}
	for _, o := range []struct {
		flag, value string
		id          **uint32
	}{{"-o", f.owner, &opts.Uid}, {"-g", f.group, &opts.Gid}} {
		if o.value == "" {
			continue
		}
		n, _, err := cliflags.ParseOwner(o.value)
		if err != nil {
			return opts, fmt.Errorf("%s %s: %w", o.flag, o.value, err)
		}
		*o.id = &n
	}
	return opts, nil
}

// copyFiles is the one library call, wrapped in mounting and unmounting
// the image; it returns the exit status.
func copyFiles(f *flags, srcs []string, dst string, stdout, stderr io.Writer) int {
	say := func(msg string) { fmt.Fprintln(stderr, msg) }
	fail := func(status int, err error) int {
		say(f.name + ": " + err.Error())
		return status
	}
	opts, err := f.options()
	if err != nil {
		return fail(exitImage, err)
	}
	readOnly := f.from || f.dryRun
	f.disk.LimitHeap(os.Getenv) // peak RSS bounded by -m, whatever the image
	m, err := f.disk.Mount(f.image, readOnly, stderr)
	if err != nil {
		return fail(exitImage, err)
	}
	defer m.Kernel.Halt()
	if !readOnly {
		if why := m.ReadOnlyReason(); why != "" {
			return fail(exitImage, fmt.Errorf("%s: the filesystem cannot be written: %s", f.image, why))
		}
	}

	list := func(line string) { fmt.Fprintln(stdout, line) }
	if bar := newBar(f, srcs, stderr); bar != nil {
		bar.Start()
		defer bar.Stop()
		say = bar.Println
		list = func(line string) { bar.PrintlnTo(stdout, line) }
		opts.OnBytes = bar.Add
		opts.OnEntry = func(string, string) { bar.Entry() }
	}
	if f.verbosity.Verbose || f.dryRun {
		counted := opts.OnEntry
		opts.OnEntry = func(src, dst string) {
			if counted != nil {
				counted(src, dst)
			}
			list(showSrc(f, m, src) + " -> " + showDst(f, m, dst))
		}
	}
	opts.Report = func(err error) {
		var pe *hostcopy.PathError
		if errors.As(err, &pe) && f.from {
			pe.Path = showSrc(f, m, pe.Path)
		}
		say(f.name + ": " + err.Error())
	}

	// What the host cannot hold (Windows: owners, most modes, xattrs)
	// is not a failure, but never silent: each entry with -v, else a
	// count.
	dropped := 0
	opts.Dropped = func(src string, what []string) {
		dropped++
		if f.verbosity.Verbose {
			say(f.name + ": " + showSrc(f, m, src) + ": not kept on this host: " + strings.Join(what, ", "))
		}
	}

	if f.from {
		err = hostcopy.From(m.Kernel, m.Dir, srcs, dst, opts)
	} else {
		err = hostcopy.To(m.Kernel, m.Dir, srcs, dst, opts)
	}
	if dropped > 0 && !f.verbosity.Verbose {
		say(fmt.Sprintf("%s: %d entries copied without the owners, modes or xattrs this host cannot hold (-v lists them)", f.name, dropped))
	}
	// Unmounting commits what was written and leaves the filesystem
	// clean; Halt after it has nothing left to do.
	if uerr := m.Kernel.Umount(m.Dir, 0); uerr != nil && !readOnly {
		err = errors.Join(err, fmt.Errorf("%s: unmount: %w", f.image, uerr))
	}
	if herr := m.Kernel.Halt(); herr != nil && !readOnly {
		err = errors.Join(err, fmt.Errorf("%s: %w", f.image, herr))
	}
	return status(f, m, err, fail)
}

// status reports the copy's error and returns the exit status.
func status(f *flags, m *cliflags.Mounted, err error, fail func(int, error) int) int {
	var fe *hostcopy.FatalError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &fe) && errors.Is(fe.Err, abi.ENOSPC) && !f.from:
		return fail(exitEntries, fmt.Errorf("no space left on device in %s while copying %s", f.image, fe.Path))
	case errors.As(err, &fe) && errors.Is(fe.Err, abi.ENOSPC):
		return fail(exitEntries, fmt.Errorf("no space left on device on the host while copying %s", showSrc(f, m, fe.Path)))
	case errors.As(err, &fe) && errors.Is(fe.Err, abi.ENOSYS):
		return fail(exitEntries, fmt.Errorf("%s: this kernel cannot write %s yet (ENOSYS) while copying %s", f.image, m.FSType, fe.Path))
	case errors.As(err, &fe) && f.from:
		return fail(exitEntries, fmt.Errorf("stopped while copying %s to the host: %w", showSrc(f, m, fe.Path), fe.Err))
	case errors.As(err, &fe):
		return fail(exitEntries, fmt.Errorf("%s: stopped while copying %s: %w", f.image, fe.Path, fe.Err))
	}
	// ErrIncomplete (entries reported above), a DST that cannot be used,
	// or the unmount failed.
	return fail(exitEntries, err)
}

// showSrc and showDst name a path as the user knows it: an image path
// without the kernel's mount point, or a host path as it is.
func showSrc(f *flags, m *cliflags.Mounted, p string) string {
	if f.from {
		return imagePath(m, p)
	}
	return p
}

func showDst(f *flags, m *cliflags.Mounted, p string) string {
	if f.from {
		return p
	}
	return imagePath(m, p)
}

func imagePath(m *cliflags.Mounted, p string) string {
	rel, ok := strings.CutPrefix(p, strings.TrimSuffix(m.Dir, "/"))
	if !ok {
		return p
	}
	if rel == "" {
		return "/"
	}
	return rel
}

// newBar returns a progress bar on stderr if it is a terminal and the bar
// is not turned off, or nil. Its total is the data of the host files for
// cptofs (a walk of the sources first: lstat is cheap beside the writes);
// unknown for cpfromfs (bytes and entries are counted, without a
// percentage).
func newBar(f *flags, srcs []string, stderr io.Writer) *progress.Bar {
	if f.verbosity.NoProgress {
		return nil
	}
	return progress.OnTerminal(stderr, func() int64 {
		if f.from || f.dryRun {
			return 0
		}
		return hostcopy.SourceBytes(srcs)
	})
}
