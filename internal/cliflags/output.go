package cliflags

import (
	"errors"

	"github.com/lklimg/lklimg/internal/compress"
	"github.com/urfave/cli/v2"
)

// Compression holds the flags that choose how an archive is compressed,
// as GNU tar spells them.
type Compression struct {
	Gzip, Zstd, Xz bool
}

// Flags returns the flag definitions, bound to c.
func (c *Compression) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "gzip", Aliases: []string{"z"}, Destination: &c.Gzip,
			Usage: "compress with gzip, on every core (default for OUTPUT ending .tar.gz or .tgz)"},
		&cli.BoolFlag{Name: "zstd", Destination: &c.Zstd,
			Usage: "compress with zstd, on every core (default for .tar.zst, .tzst)"},
		&cli.BoolFlag{Name: "xz", Aliases: []string{"J"}, Destination: &c.Xz,
			Usage: "compress with xz (default for .tar.xz, .txz)"},
	}
}

// Method returns the compression asked for: the flag given, else what
// the name of the output file says (compress.FromSuffix), else none.
// More than one flag is an error.
func (c *Compression) Method(output string) (compress.Method, error) {
	var m []compress.Method
	for _, f := range []struct {
		set bool
		m   compress.Method
	}{{c.Gzip, compress.Gzip}, {c.Zstd, compress.Zstd}, {c.Xz, compress.Xz}} {
		if f.set {
			m = append(m, f.m)
		}
	}
	switch len(m) {
	case 0:
		return compress.FromSuffix(output), nil
	case 1:
		return m[0], nil
	}
	return compress.None, errors.New("choose one of -z/--gzip, --zstd and -J/--xz")
}

// Verbosity holds the flags that say what a command tells on the way.
type Verbosity struct {
	// Verbose lists entries as they are done (tar -v).
	Verbose bool
	// NoProgress turns the progress bar off; it is shown only when
	// stderr is a terminal anyway.
	NoProgress bool
}

// Flags returns the flag definitions, bound to v.
func (v *Verbosity) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Destination: &v.Verbose,
			Usage: "list entries as they are written (on stdout, or stderr when the archive goes to stdout)"},
		&cli.BoolFlag{Name: "no-progress", Destination: &v.NoProgress,
			Usage: "no progress bar (shown only when stderr is a terminal)"},
	}
}
