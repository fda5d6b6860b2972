package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/erofsutils"
	"github.com/urfave/cli/v2"
)

// erofsFlags are `lklimg mkfs -t erofs`'s options: mkfs.erofs's.
type erofsFlags struct {
	fsType, comp, pcluster, ext, uuid, label, fixed, timestamp string
	xattrTolerance, workers, memoryMB                          int
	allRoot, noDedupe, quiet, printk, help                     bool
	dir                                                        string
}

// erofsOptions is mkfs.erofs's -E options this mkfs takes.
const erofsOptions = "legacy-compress, ztailpacking, noinline_data, force-inode-extended"

// erofsMkfsCommand is `lklimg mkfs -t erofs [options] -d DIR|TAR IMAGE`.
func erofsMkfsCommand(stdin io.Reader, stdout, stderr io.Writer, status *int) *cli.Command {
	var f erofsFlags
	str := func(name string, dest *string, usage string) *cli.StringFlag {
		return &cli.StringFlag{Name: name, Destination: dest, Usage: usage}
	}
	return &cli.Command{
		Name:  "mkfs",
		Usage: "make an EROFS image (-t erofs) of a directory or a tar archive, as mkfs.erofs 1.5-1.7 does",
		Description: "The image is IMAGE, made anew, the size of what it holds. -d DIR copies the host directory's tree\n" +
			"(owners, modes, times, xattrs, hard links, devices); -d TAR, or -d - for stdin, the archive's\n" +
			"(gzip, zstd, xz or bzip2 compressed, or not), as tar -x would extract it as root. mkfs.erofs's\n" +
			"own order, IMAGE SOURCE, is taken too. Entries EROFS cannot hold are said one by one (exit status 1).\n" +
			"Files of identical contents share their data.\n" +
			"With SOURCE_DATE_EPOCH set (or --timestamp), the image's build time is that time, no entry's time is\n" +
			"later, and the UUID not given (-U) is derived from the image's bytes: the same inputs make the\n" +
			"same image, whatever the number of workers. Without it, the time is the clock's and the UUID random.",
		ArgsUsage:              "-d DIR|TAR IMAGE",
		UseShortOptionHandling: true,
		HideHelp:               true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "t", Aliases: []string{"type"}, Value: "erofs", Destination: &f.fsType,
				Usage: "filesystem `TYPE`: " + strings.Join(tools.MkfsTypes(), ", ")},
			str("d", &f.dir, "the `DIR|TAR` (- for stdin) the image is made of"),
			str("z", &f.comp, "compress files with `ALG[,LEVEL]`: lz4, lz4hc (1-12, 9 by default), deflate (0-9, 1), zstd (1-22, 3), lzma (MicroLZMA, slow); none by default"),
			str("C", &f.pcluster, "largest physical cluster `SIZE` in bytes, a multiple of 4096 up to 1M (big pclusters; default 4096)"),
			str("E", &f.ext, "extended `OPTIONS`, comma separated: "+erofsOptions),
			&cli.IntFlag{Name: "x", Value: erofsutils.DefaultXattrTolerance, Destination: &f.xattrTolerance,
				Usage: "xattrs carried by more than `N` inodes are shared; below 0, no xattrs"},
			str("T", &f.fixed, "every entry's time and the build time are `SECONDS` since the epoch"),
			str("U", &f.uuid, "filesystem `UUID`, random or clear (not given: see SOURCE_DATE_EPOCH)"),
			str("L", &f.label, "volume `LABEL` (16 bytes at most)"),
			&cli.BoolFlag{Name: "all-root", Destination: &f.allRoot, Usage: "make every entry owned by root"},
			&cli.BoolFlag{Name: "no-dedupe", Destination: &f.noDedupe, Usage: "write identical files' data as many times"},
			&cli.IntFlag{Name: "workers", Destination: &f.workers, DefaultText: "the CPUs",
				Usage: "`N` compressing workers (the image is the same whatever N)"},
			str("timestamp", &f.timestamp, "the build `TIME` (@SECONDS or a date), as SOURCE_DATE_EPOCH"),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Destination: &f.quiet, Usage: "print nothing but errors"},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
				Usage: "kernel memory in `MB`"},
			&cli.BoolFlag{Name: "enable-printk", Aliases: []string{"p"}, Destination: &f.printk,
				Usage: "show the kernel log on stderr"},
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Destination: &f.help, Usage: "show help"},
		},
		Action: func(c *cli.Context) error {
			if f.help {
				return cli.ShowSubcommandHelp(c)
			}
			image, src := c.Args().First(), f.dir
			switch {
			case c.NArg() == 2 && f.dir == "":
				src = c.Args().Get(1)
			case c.NArg() != 1 || f.dir == "":
				return errors.New("usage: lklimg mkfs -t erofs [options] -d DIR|TAR IMAGE")
			}
			p, err := erofsParams(&f, os.Getenv, time.Now())
			if err != nil {
				return err
			}
			(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv)
			*status, err = makeErofs(erofsRun{image: image, source: src, params: p, memoryMB: f.memoryMB,
				printk: f.printk, quiet: f.quiet, who: "mkfs"}, stdin, stdout, stderr)
			return err
		},
	}
}

// erofsParams turns the flags into erofsutils.Params.
func erofsParams(f *erofsFlags, getenv func(string) string, now time.Time) (erofsutils.Params, error) {
	p := erofsutils.DefaultParams()
	p.XattrTolerance, p.AllRoot, p.NoDedupe, p.Workers = f.xattrTolerance, f.allRoot, f.noDedupe, f.workers
	if f.comp != "" {
		alg, level, hasLevel := strings.Cut(f.comp, ",")
		p.Compressor = alg
		if hasLevel {
			n, err := strconv.Atoi(level)
			if err != nil || n < 0 {
				return p, fmt.Errorf("-z %s: invalid compression level %q", f.comp, level)
			}
			p.Level = n
		}
	}
	if f.pcluster != "" {
		n, err := parseSize(f.pcluster)
		if err != nil {
			return p, fmt.Errorf("-C %s: %w", f.pcluster, err)
		}
		p.PclusterSize = int(n)
	}
	if f.ext != "" {
		for _, o := range strings.Split(f.ext, ",") {
			switch o {
			case "legacy-compress":
				p.LegacyCompress = true
			case "ztailpacking":
				p.Ztailpacking = true
			case "noinline_data":
				p.NoInline = true
			case "force-inode-extended":
				p.ForceExtended = true
			default:
				return p, fmt.Errorf("-E %s: unknown or unsupported option (this mkfs takes %s)", o, erofsOptions)
			}
		}
	}
	epoch, err := fixedTime(&fsFlags{timestamp: f.timestamp}, getenv)
	if err != nil {
		return p, err
	}
	switch {
	case f.fixed != "":
		n, err := strconv.ParseInt(f.fixed, 10, 64)
		if err != nil || n < 0 {
			return p, fmt.Errorf("-T %s: not a number of seconds", f.fixed)
		}
		p.BuildTime, p.FixedMtime = archive.Time{Sec: n}, true
	case epoch != nil:
		p.BuildTime, p.ClampMtime = archive.Time{Sec: *epoch}, true
	default:
		p.BuildTime = archive.Time{Sec: now.Unix(), Nsec: int64(now.Nanosecond())}
	}
	reproducible := epoch != nil || f.fixed != ""
	switch f.uuid {
	case "":
		if reproducible {
			p.DeriveUUID = true
		} else if p.UUID, err = randomUUID(); err != nil {
			return p, err
		}
	case "clear":
	case "random":
		if p.UUID, err = randomUUID(); err != nil {
			return p, err
		}
	default:
		if p.UUID, err = parseUUID(f.uuid); err != nil {
			return p, fmt.Errorf("-U %s: %w", f.uuid, err)
		}
	}
	if len(f.label) > 16 {
		return p, fmt.Errorf("-L %s: a label of 16 bytes at most", f.label)
	}
	p.Label = f.label
	return p, nil
}

// erofsRun is one EROFS image to make (mkfs -t erofs, tar2fs -t erofs).
type erofsRun struct {
	image, source string // source: a directory, a tar file, or "-"
	params        erofsutils.Params
	memoryMB      int
	printk, quiet bool
	who           string // the command, prefixing messages
}

// makeErofs writes the image of the source through the library kernel:
// on a large sparse file (tar2fsVirtualSize), cut to the image's size
// once written (Kernel.ResizeDisk). It returns the exit status: 1 when
// entries were left out (each said on stderr).
func makeErofs(r erofsRun, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	status := exitOK
	report := func(err error) {
		status = exitFail
		fmt.Fprintf(stderr, "lklimg: %s: %v\n", r.who, err)
	}
	r.params.Report = report
	var src archive.Source
	switch fi, err := os.Stat(r.source); {
	case r.source == "-":
		rc, _, err := compress.NewReader(stdin)
		if err != nil {
			return exitImage, fmt.Errorf("stdin: %w", err)
		}
		defer rc.Close()
		src = archive.NewReader(rc)
	case err != nil:
		return exitImage, fmt.Errorf("%s: %w", r.source, unwrapPathErr(err))
	case fi.IsDir():
		ds := hostcopy.NewDirSource(r.source, report)
		defer ds.Close()
		src = ds
	default:
		in, err := os.Open(r.source)
		if err != nil {
			return exitImage, fmt.Errorf("%s: %w", r.source, unwrapPathErr(err))
		}
		defer in.Close()
		rc, _, err := compress.NewReader(in)
		if err != nil {
			return exitImage, fmt.Errorf("%s: %w", r.source, err)
		}
		defer rc.Close()
		src = archive.NewReader(rc)
	}
	var printk io.Writer
	if r.printk {
		printk = stderr
	}
	opts := kernel.DiskOptions{Create: true, Truncate: true, Size: tar2fsVirtualSize, CacheUnsafe: true}
	d, err := bootDisk(r.image, r.memoryMB, printk, nil, 0, opts)
	if err != nil {
		return exitImage, err
	}
	fail := func(err error) (int, error) {
		d.k.Halt()
		os.Remove(r.image)
		return exitImage, err
	}
	f, err := d.open()
	if err != nil {
		return fail(err)
	}
	size, err := erofsutils.Mkfs(f, src, r.params)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", r.image, err))
	}
	if err := d.k.ResizeDisk(d.disk, size); err != nil {
		return fail(fmt.Errorf("%s: %w", r.image, err))
	}
	if err := d.halt(); err != nil {
		return exitImage, err
	}
	if !r.quiet {
		fmt.Fprintf(stdout, "%s: EROFS image of %d bytes\n", r.image, size)
	}
	return status, nil
}

// tar2erofs is `lklimg tar2fs -t erofs TAR|- IMAGE`: mkfs -t erofs -d
// TAR with tar2fs's options that mean something to EROFS (-L, -U,
// --timestamp, -q, -m, -p); mke2fs's others are refused by name.
func tar2erofs(f *tar2fsFlags, input, image string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	for _, o := range []struct{ name, v string }{
		{"-E", f.ext}, {"-O", f.features}, {"-J", f.journal}, {"-C", f.cluster}, {"-s", f.size},
		{"--free", f.free}, {"--whiteouts", f.whiteouts},
	} {
		if o.v != "" {
			return exitImage, fmt.Errorf("%s: an option of ext4's tar2fs, not of -t erofs (see lklimg mkfs -t erofs --help)", o.name)
		}
	}
	if f.partition != 0 || f.blockSize != 0 || f.inodes != 0 || f.inodeSize != 0 || f.inodeRatio != 0 || f.flexSize != 0 {
		return exitImage, errors.New("-P, -b, -N, -I, -i, -G: options of ext4's tar2fs, not of -t erofs")
	}
	ef := erofsFlags{uuid: f.uuid, label: f.label, timestamp: f.timestamp, xattrTolerance: erofsutils.DefaultXattrTolerance}
	p, err := erofsParams(&ef, getenv, time.Now())
	if err != nil {
		return exitImage, err
	}
	return makeErofs(erofsRun{image: image, source: input, params: p, memoryMB: f.memoryMB, printk: f.printk,
		quiet: true, who: "tar2fs"}, stdin, stdout, stderr)
}
