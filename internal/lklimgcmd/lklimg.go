// Package lklimgcmd is the lklimg command, the toolbox: its subcommands'
// flags, help, messages and exit statuses, run by cmd/lklimg, whose
// documentation describes it. Every subcommand but mkfs and tar2fs mounts
// the image through the kernel's syscalls (session); mkfs and tar2fs
// make a new filesystem on its device with tools/e2fsprogs (mkfs -t vfat:
// tools/dosfstools) and fill it through the same kernel.
package lklimgcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/profile"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// Exit statuses shared by the subcommands.
const (
	exitOK    = 0
	exitFail  = 1 // some PATH failed
	exitImage = 2 // the image cannot be used, or a usage error
)

// session is one subcommand's view of the mounted image: the kernel, the
// mount point and the streams. Its status is the exit status so far.
type session struct {
	k      *kernel.Kernel
	root   string // the mount point in the kernel
	dev    string // the device mounted ("vda", "vda2")
	out    *bufio.Writer
	stderr io.Writer
	status int
}

// kpath turns a path inside the image into the kernel's path under the
// mount point. It is cleaned lexically first, so that ".." cannot leave
// the image; a trailing "/" is kept, since it asks for a directory.
func (s *session) kpath(p string) string {
	kp := s.root + path.Clean("/"+p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(kp, "/") {
		kp += "/"
	}
	return kp
}

// warn prints "lklimg: MSG" on stderr, after what stdout holds so far,
// and raises the exit status to status.
func (s *session) warn(status int, format string, args ...any) {
	s.out.Flush()
	fmt.Fprintf(s.stderr, "lklimg: "+format+"\n", args...)
	s.status = max(s.status, status)
}

// strerror is the C library's message for the errno err carries ("No such
// file or directory"), as the GNU tools print it, followed by the
// kernel's reason when it gave one.
func strerror(err error) string {
	msg := abi.ErrnoOf(err).Message()
	var e *abi.Error
	if errors.As(err, &e) {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// subcommand is one of lklimg's commands: its name, flags and body. The
// body runs with the image mounted read-only; minArgs counts the
// arguments after IMAGE it needs.
type subcommand struct {
	name, usage, args string
	minArgs, maxArgs  int // maxArgs < 0: no limit
	flags             []cli.Flag
	body              func(s *session, args []string)
	// write mounts the image read-write; the body's changes are then
	// committed by unmounting before the kernel halts.
	write bool
	// before counts the arguments that come before IMAGE (chmod's MODE,
	// chown's OWNER); the body receives them first.
	before int
}

// command turns a subcommand into a cli.Command with the disk flags.
func (sc subcommand) command(stdout, stderr io.Writer, status *int) *cli.Command {
	var disk cliflags.Disk
	flags := append(sc.flags, withoutShort(disk.Flags(), sc.flags)...)
	_, takesH := shortH[sc.name]
	if takesH {
		flags = append(flags, &cli.BoolFlag{Name: "help", Usage: "show help"})
	}
	return &cli.Command{
		Name:                   sc.name,
		Usage:                  sc.usage,
		ArgsUsage:              sc.args,
		Flags:                  flags,
		UseShortOptionHandling: true,
		HideHelp:               takesH,
		Action: func(c *cli.Context) error {
			n := c.NArg() - 1
			if n < sc.minArgs || (sc.maxArgs >= 0 && n > sc.maxArgs) {
				return fmt.Errorf("usage: lklimg %s [options] %s", sc.name, sc.args)
			}
			args := c.Args().Slice()
			image := args[sc.before]
			args = append(args[:sc.before:sc.before], args[sc.before+1:]...)
			disk.LimitHeap(os.Getenv)
			m, err := disk.Mount(image, !sc.write, stderr)
			if err != nil {
				return err
			}
			defer m.Kernel.Halt()
			if sc.write {
				if why := m.ReadOnlyReason(); why != "" {
					return fmt.Errorf("%s: the filesystem cannot be written: %s", image, why)
				}
			}
			s := &session{k: m.Kernel, root: m.Dir, dev: m.Device, out: bufio.NewWriter(stdout), stderr: stderr}
			sc.body(s, args)
			if err := s.out.Flush(); err != nil {
				s.warn(exitFail, "write error: %v", err)
			}
			if sc.write {
				// Unmounting writes back what the body changed and
				// leaves the filesystem clean.
				if err := m.Kernel.Umount(m.Dir, 0); err != nil {
					s.warn(exitFail, "%s: unmount: %s", image, strerror(err))
				}
				if err := m.Kernel.Halt(); err != nil {
					s.warn(exitFail, "%s: %s", image, strerror(err))
				}
			}
			*status = s.status
			return nil
		},
	}
}

// withoutShort drops from disk the aliases a subcommand's own flags use
// (mkdir's -p and -m are GNU's, not -P's neighbours -p and -m): those disk
// flags keep their long names.
func withoutShort(disk, own []cli.Flag) []cli.Flag {
	taken := map[string]bool{}
	for _, f := range own {
		for _, n := range f.Names() {
			taken[n] = true
		}
	}
	keep := func(aliases []string) []string {
		var out []string
		for _, a := range aliases {
			if !taken[a] {
				out = append(out, a)
			}
		}
		return out
	}
	for _, f := range disk {
		switch f := f.(type) {
		case *cli.IntFlag:
			f.Aliases = keep(f.Aliases)
		case *cli.BoolFlag:
			f.Aliases = keep(f.Aliases)
		case *cli.StringFlag:
			f.Aliases = keep(f.Aliases)
		}
	}
	return disk
}

// shortH names the commands whose -h is a flag of their own, as GNU's
// (touch -h: --no-dereference), and that flag's long name. The flag
// parser takes any flag named h for help whatever the command says, so
// such a flag has its long name alone and permute spells -h out; help is
// --help.
var shortH = map[string]string{"touch": "no-dereference"}

// permute moves the options that follow operands ("rm dir -r") before
// them, as GNU getopt does, since the flag parser stops at the first
// operand; a flag's value moves with it, and "--" ends the options. A
// command with subcommands (disk build) is permuted after the
// subcommand's name.
func permute(args []string, cmds []*cli.Command) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil || cmd.SkipFlagParsing { // an alias parses its own
		return args
	}
	if len(cmd.Subcommands) > 0 {
		return append(args[:1:1], permute(args[1:], cmd.Subcommands)...)
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var opts, operands []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			operands = append(operands, rest[i+1:]...)
			i = len(rest)
		case cmd.Name == "chmod" && isModeOption(a, takesValue):
			// GNU chmod takes "-w" anywhere as the MODE, its first
			// operand.
			operands = append([]string{a}, operands...)
		case len(a) > 1 && a[0] == '-':
			if long, ok := shortH[cmd.Name]; ok {
				a, opts = spellH(a, takesValue, long, opts)
				if a == "" {
					continue
				}
			}
			if _, isName := takesValue[a[1:]]; a[1] != '-' && len(a) > 2 && takesValue[a[1:2]] && !isName {
				// "-zlz4hc", "-F32": a value-taking letter with its
				// value attached, as getopt takes it (urfave/cli
				// would read the rest as more letters).
				opts = append(opts, a[:2], a[2:])
				continue
			}
			opts = append(opts, a)
			if needsValue(a, takesValue) && i+1 < len(rest) {
				i++
				opts = append(opts, rest[i])
			}
		default:
			operands = append(operands, a)
		}
	}
	out := append(slices.Clip(args[:2]), opts...)
	if len(operands) > 0 {
		out = append(out, "--")
	}
	return append(out, operands...)
}

// spellH takes an h out of the group of short options a ("-h", "-ch",
// "-hr"), where it is a flag and not a value ("-rh" is -r h), adding
// "--"+long to opts; it returns what is left of a ("" for nothing).
func spellH(a string, takesValue map[string]bool, long string, opts []string) (string, []string) {
	if a[1] == '-' {
		return a, opts
	}
	for j := 1; j < len(a); j++ {
		c := a[j : j+1]
		if c == "h" {
			opts = append(opts, "--"+long)
			a = a[:j] + a[j+1:]
			j--
			continue
		}
		if takesValue[c] {
			break // the rest is c's value
		}
	}
	if a == "-" {
		return "", opts
	}
	return a, opts
}

// isModeOption says whether chmod's argument a, which starts with "-"
// like an option, is a MODE ("-w", "-rwx,o+t"), as GNU chmod takes it: a
// flag of lklimg's own ("-t", "-P") stays one.
func isModeOption(a string, flags map[string]bool) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	if _, known := flags[a[1:2]]; known {
		return false
	}
	_, ok := parseMode(a, 0, false, 0)
	return ok
}

// needsValue says whether option a takes the next argument as its value:
// "--mode" does, "--mode=755" does not; of grouped short options ("-pm"),
// a value-taking letter takes the rest of the group, or the next argument
// when it is last.
func needsValue(a string, takesValue map[string]bool) bool {
	if name, ok := strings.CutPrefix(a, "--"); ok {
		return takesValue[name] && !strings.Contains(name, "=")
	}
	if v, known := takesValue[a[1:]]; known && len(a) > 2 {
		// A long name after one dash, as mksquashfs spells its
		// options (-comp, -noI): not a group of letters.
		return v
	}
	for j := 1; j < len(a); j++ {
		if takesValue[a[j:j+1]] {
			return j == len(a)-1
		}
	}
	return false
}

// Run runs the command on args (os.Args: args[0] is the program's name)
// with its streams, within the profiles the environment asks for
// (internal/profile), and returns the exit status; tar2fs reads "-" from
// os.Stdin.
func Run(args []string, stdout, stderr io.Writer) int {
	defer profile.Start("lklimg", os.Getenv, stderr)()
	status := exitOK
	var cmds []*cli.Command
	for _, sc := range subcommands() {
		cmds = append(cmds, sc.command(stdout, stderr, &status))
	}
	cmds = append(cmds, infoCommand(stdout, stderr, &status), mkfsCommandFor(args, stdout, stderr, &status))
	cmds = append(cmds, tar2fsCommand(os.Stdin, stdout, stderr, &status), partCommand(os.Stdin, stdout, stderr, &status),
		diskCommand(stdout, stderr, &status), convertCommand(stdout, stderr, &status))
	cmds = append(cmds, aliasCommands(stdout, stderr, &status)...)
	app := &cli.App{
		Name:  "lklimg",
		Usage: "look inside or change the filesystem of a disk image, as the GNU tools would on it mounted",
		Description: "IMAGE is opened read-only by ls, cat, stat, df, getfattr, info, fs2tar and cp-out, read-write by the others\n" +
			"(mkfs and tar2fs make a new filesystem on it);\n" +
			"PATHs are inside it (\"/\" is its root).\n" +
			"Exit status: as the GNU tool; 2 when the image cannot be opened or mounted, or a usage error.",
		Commands:        cmds,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return err
		},
	}
	if err := app.Run(permute(args, cmds)); err != nil {
		fmt.Fprintf(stderr, "lklimg: %v\n", err)
		return exitImage
	}
	return status
}

func subcommands() []subcommand {
	return append([]subcommand{
		lsCommand(),
		{name: "cat", usage: "write files' bytes to stdout, as cat", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, body: cat},
		{name: "stat", usage: "show files' status, as GNU stat", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, body: stat},
		{name: "df", usage: "show the filesystem's space, as df -B1", args: "IMAGE",
			minArgs: 0, maxArgs: 0, body: df},
		{name: "getfattr", usage: "dump files' extended attributes, as getfattr -d -m - --absolute-names",
			args: "IMAGE PATH...", minArgs: 1, maxArgs: -1, body: getfattr},
	}, writeCommands()...)
}
