// Package fs2tarcmd is the fs2tar command: its flags, help, messages and
// exit statuses, run by cmd/fs2tar and by "lklimg fs2tar", which behave
// alike byte for byte. cmd/fs2tar's documentation describes it.
package fs2tarcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/internal/profile"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// Exit statuses.
const (
	exitOK      = 0
	exitEntries = 1 // some entries failed, or the output did
	exitImage   = 2 // the image cannot be used, or a usage error
	exitPipe    = 128 + 13
)

// Run runs fs2tar on args (args[0] is the program's name, as os.Args)
// with its streams, within the profiles the environment asks for
// (internal/profile), and returns the exit status. Its messages say "fs2tar:"
// whoever runs it: "lklimg fs2tar" is the same command.
func Run(args []string, stdout, stderr io.Writer) int {
	stop := profile.Start("fs2tar", os.Getenv, stderr)
	defer stop()
	return run(args, stdout, stderr)
}

// flags are the command line, bound by its flag definitions.
type flags struct {
	disk      cliflags.Disk
	comp      cliflags.Compression
	rewrite   cliflags.Rewrite
	verbosity cliflags.Verbosity
	selinux   string
	directory string
	exclude   cliflags.Patterns
	strict    bool
}

// run is the command with its streams, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	var f flags
	status := exitOK
	app := &cli.App{
		Name:      "fs2tar",
		Usage:     "write the filesystem of a disk image as a tar archive",
		UsageText: "fs2tar [options] IMAGE [OUTPUT|-]",
		Description: "The image is opened read-only and never written. OUTPUT omitted or - is stdout.\n" +
			"Exit status: 0 ok; 1 some entries could not be archived (each is reported) or the\n" +
			"output failed; 2 the image cannot be opened or mounted, or a usage error.",
		Flags: concat(f.disk.Flags(), f.comp.Flags(), []cli.Flag{
			&cli.StringFlag{Name: "directory", Aliases: []string{"C"}, Destination: &f.directory,
				Usage: "archive the subtree at `PATH` of the image (its symlinks followed inside the image) as ./"},
		}, cliflags.RepeatableFlags("exclude", "e",
			"leave out entries matching `PATTERN`, with GNU tar's --exclude rules", &f.exclude),
			f.rewrite.Flags(), f.verbosity.Flags(), []cli.Flag{
				&cli.StringFlag{Name: "selinux", Aliases: []string{"s", "selinux-contexts"}, Destination: &f.selinux,
					Usage: "write the SELinux context of every entry to `FILE` (\"PATH CONTEXT\" lines)"},
				&cli.BoolFlag{Name: "strict", Destination: &f.strict,
					Usage: "stop at the first entry that cannot be archived (exit 1; the archive is a valid tar of the entries before it)"},
			}),
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
			status = export(&f, c.Args().Get(0), c.Args().Get(1), stdout, stderr)
			return nil
		},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "fs2tar: %v\n", err)
		return exitImage
	}
	return status
}

func concat(lists ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// export is the one library call, wrapped in opening the image and the
// output; it returns the exit status.
func export(f *flags, image, output string, stdout, stderr io.Writer) int {
	toStdout := output == "" || output == "-"
	// Messages go above the progress bar when there is one.
	say := func(msg string) { fmt.Fprintln(stderr, msg) }
	fail := func(status int, err error) int {
		say("fs2tar: " + err.Error())
		return status
	}
	method, err := f.comp.Method(output)
	if err != nil {
		return fail(exitImage, err)
	}
	format, err := f.rewrite.TarFormat()
	if err != nil {
		return fail(exitImage, err)
	}
	if _, err := archive.NewExcluder(f.exclude); err != nil {
		return fail(exitImage, err)
	}
	f.disk.LimitHeap(os.Getenv) // peak RSS bounded by -m, whatever the image
	m, err := f.disk.Mount(image, true, stderr)
	if err != nil {
		return fail(exitImage, err)
	}
	defer m.Kernel.Halt()

	root := m.Dir
	if f.directory != "" {
		root, err = subtree(m, f.directory)
		if err != nil {
			return fail(exitImage, err)
		}
	}
	rewrite, err := f.rewrite.Options(os.Getenv, func() (map[uint32]string, map[uint32]string, error) {
		return archive.IDNames(m.Kernel, m.Dir)
	})
	if err != nil {
		return fail(exitImage, err)
	}

	out := stdout
	if so, ok := stdout.(*os.File); ok {
		growPipe(so)
	}
	var file *os.File
	if !toStdout {
		file, err = os.Create(output)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fail(exitEntries, fmt.Errorf("%s: cannot create the output: %w", output, err))
		}
		defer file.Close() // on early returns; the normal path checks Close
		out = file
	}
	var contexts *bufio.Writer // one write per line would be one syscall per file
	if f.selinux != "" {
		sf, err := os.Create(f.selinux)
		if err != nil {
			return fail(exitEntries, err)
		}
		defer sf.Close()
		contexts = bufio.NewWriter(sf)
	}
	zw, err := compress.NewWriter(out, method, compress.Options{})
	if err != nil {
		return fail(exitImage, err)
	}
	var tarOut io.Writer = zw
	if method == compress.None {
		// The output itself, so that the export can send file data to it
		// straight from the image (archive.Sendfiler) when it is a
		// host file.
		tarOut = out
	}

	// As GNU tar: the -v listing goes to stdout, unless the archive does.
	list := func(name string) { fmt.Fprintln(stdout, name) }
	bar := newBar(f, m, stderr)
	if bar != nil {
		bar.Start()
		defer bar.Stop()
		say = bar.Println
		list = func(name string) { bar.PrintlnTo(stdout, name) } // stdout may be the bar's terminal too
		tarOut = bar.Writer(zw)
	}
	if toStdout {
		list = say
	}
	lostXattrs := 0 // entries whose xattrs --format gnu cannot hold
	opts := archive.Options{
		Exclude: f.exclude,
		Rewrite: rewrite,
		Format:  format,
		Report:  func(err error) { say("fs2tar: " + err.Error()) },
		Strict:  f.strict,
		OnEntry: func(h *archive.Header) {
			if bar != nil {
				bar.Entry()
			}
			if format == archive.FormatGNU && len(h.Xattrs) > 0 {
				lostXattrs++
			}
			if f.verbosity.Verbose {
				list(listName(h))
			}
		},
	}
	if contexts != nil {
		opts.SELinuxFile = contexts
	}

	err = archive.Export(m.Kernel, root, tarOut, opts)
	profile.WriteHeap("fs2tar", os.Getenv, stderr)
	if lostXattrs > 0 {
		// GNU tar says nothing; a rootfs without its capabilities and
		// labels would only show at boot.
		say(fmt.Sprintf("fs2tar: --format gnu cannot hold extended attributes: those of %d entries were left out (--format pax keeps them; --no-xattrs silences this)", lostXattrs))
	}
	if cerr := zw.Close(); cerr != nil && (err == nil || errors.Is(err, archive.ErrIncomplete)) {
		err = fmt.Errorf("write: %w", cerr)
	}
	if err == nil && file != nil {
		err = file.Close() // an NFS or quota failure may show only here
	}
	if contexts != nil {
		if ferr := contexts.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("%s: %w", f.selinux, ferr)
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

// listName is an entry as tar -cv lists it: its name, a directory's with
// a trailing '/'.
func listName(h *archive.Header) string {
	if h.Typeflag == archive.TypeDir && !strings.HasSuffix(h.Name, "/") {
		return h.Name + "/"
	}
	return h.Name
}

// subtree resolves -C PATH inside the mounted image and checks that it
// is a directory.
func subtree(m *cliflags.Mounted, dir string) (string, error) {
	root, err := archive.Resolve(m.Kernel, m.Dir, dir)
	if err == nil {
		var st abi.Stat
		err = m.Kernel.Fstatat(abi.AT_FDCWD, root, &st, 0)
		if err == nil && st.Mode&abi.S_IFMT != abi.S_IFDIR {
			err = abi.ENOTDIR
		}
	}
	if err != nil {
		return "", fmt.Errorf("-C %s: %w", dir, err)
	}
	return root, nil
}

// newBar returns a progress bar on stderr if it is a terminal and the
// bar is not turned off, or nil. Its total is the bytes the filesystem
// uses (statfs): the archive's data is about that, less the metadata,
// more the headers.
func newBar(f *flags, m *cliflags.Mounted, stderr io.Writer) *progress.Bar {
	if f.verbosity.NoProgress {
		return nil
	}
	return progress.OnTerminal(stderr, func() int64 {
		var st abi.Statfs
		if err := m.Kernel.Statfs(m.Dir, &st); err != nil {
			return 0
		}
		unit := st.Frsize
		if unit == 0 {
			unit = st.Bsize
		}
		return int64(st.Blocks-st.Bfree) * unit
	})
}
