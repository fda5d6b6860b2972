package lklimgcmd

import (
	"io"

	"github.com/lklimg/lklimg/internal/cptofscmd"
	"github.com/lklimg/lklimg/internal/fs2tarcmd"
	"github.com/lklimg/lklimg/internal/lklfusecmd"
	"github.com/urfave/cli/v2"
)

// alias is a command of its own that lklimg runs as a subcommand too
// (issue 6): "lklimg fs2tar ARGS..." is "fs2tar ARGS...", and cp-in and
// cp-out are cptofs and cpfromfs. The command keeps its own flags, help,
// messages and exit statuses, byte for byte: its messages name it
// ("fs2tar:", "cptofs:", "cpfromfs:"), not lklimg, as a busybox applet
// names itself, so that a script reads the same lines whichever binary it
// runs.
type alias struct {
	name  string // the subcommand
	prog  string // the command's own name, its argv[0]
	usage string
	run   func(args []string, stdout, stderr io.Writer) int
}

func aliases() []alias {
	return []alias{
		{"fs2tar", "fs2tar", "write the filesystem as a tar archive, as fs2tar (its options: lklimg fs2tar --help)", fs2tarcmd.Run},
		// cptofscmd copies out when its argv[0] is "cpfromfs", as the
		// cpfromfs symlink to cptofs does.
		{"cp-in", "cptofs", "copy host files into the image, as cptofs (its options: lklimg cp-in --help)", cptofscmd.Run},
		{"cp-out", "cpfromfs", "copy files out of the image, as cpfromfs (its options: lklimg cp-out --help)", cptofscmd.Run},
		{"mount", "lklfuse", "mount the image's filesystem through FUSE, as lklfuse (its options: lklimg mount --help)", lklfusecmd.Run},
	}
}

// aliasCommands turns the aliases into cli.Commands that hand their
// arguments, unparsed ("--help" and "--" too), to the command's own
// parser; permute leaves them as they are. The command's exit status
// becomes lklimg's.
func aliasCommands(stdout, stderr io.Writer, status *int) []*cli.Command {
	var cmds []*cli.Command
	for _, a := range aliases() {
		cmds = append(cmds, &cli.Command{
			Name:            a.name,
			Usage:           a.usage,
			SkipFlagParsing: true,
			HideHelp:        true,
			Action: func(c *cli.Context) error {
				*status = a.run(append([]string{a.prog}, c.Args().Slice()...), stdout, stderr)
				return nil
			},
		})
	}
	return cmds
}
