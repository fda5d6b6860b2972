package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/squashfstools"
	"github.com/urfave/cli/v2"
)

// squashfsFlags are `lklimg mkfs -t squashfs`'s options: mksquashfs's
// names, where they map.
type squashfsFlags struct {
	fsType, dir, comp, blockSize, timestamp string
	level, window, dictSize, processors     int
	hc, noI, noD, noF, noX                  bool
	noFrags, alwaysFrags, noXattrs, noDups  bool
	noExports, allRoot, quiet, printk, help bool
	memoryMB                                int
}

// squashfsMkfsCommand is `lklimg mkfs -t squashfs [options] -d DIR|TAR
// IMAGE`: mksquashfs DIR IMAGE -noappend, or tar2sqfs.
func squashfsMkfsCommand(stdin io.Reader, stdout, stderr io.Writer, status *int) *cli.Command {
	var f squashfsFlags
	boolean := func(name string, dest *bool, usage string, aliases ...string) *cli.BoolFlag {
		return &cli.BoolFlag{Name: name, Aliases: aliases, Destination: dest, Usage: usage}
	}
	return &cli.Command{
		Name:  "mkfs",
		Usage: "make a SquashFS image (-t squashfs) of a directory or a tar archive, as mksquashfs 4.5 makes it",
		Description: "-d DIR takes the directory's contents (its root's owner, mode and times too); -d TAR (gzip, zstd, xz\n" +
			"or bzip2 compressed, or not; - for stdin) the archive's entries, as tar2sqfs: directories it leaves out\n" +
			"are made 0755, root's, of time 0 (or SOURCE_DATE_EPOCH's). IMAGE is made anew, as small as the\n" +
			"filesystem (padded to 4 KiB).\n" +
			"Options are mksquashfs's. Not stored, each said on stderr (exit status 1): sockets (a directory's),\n" +
			"xattrs other than user., trusted. and security. ones (ACLs), times outside 1970-2106 (clamped).\n" +
			"With SOURCE_DATE_EPOCH set (or --timestamp), the image's time is that time and no mtime is later:\n" +
			"the same inputs make the same image, whatever the number of processors.",
		ArgsUsage: "-d DIR|TAR IMAGE",
		HideHelp:  true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "t", Aliases: []string{"type"}, Value: "squashfs", Destination: &f.fsType,
				Usage: "filesystem `TYPE`: " + strings.Join(tools.MkfsTypes(), ", ")},
			&cli.StringFlag{Name: "d", Destination: &f.dir,
				Usage: "the `DIR|TAR` the image holds: a host directory's contents, or a tar archive's (- for stdin)"},
			&cli.StringFlag{Name: "comp", Value: "gzip", Destination: &f.comp,
				Usage: "`COMPRESSOR`: gzip, xz, lzma (not read by Linux), lz4, zstd or lzo"},
			&cli.StringFlag{Name: "b", Destination: &f.blockSize,
				Usage: "block `SIZE`: 4K to 1M, a power of two (bytes, or with K or M; default 128K)"},
			&cli.IntFlag{Name: "Xcompression-level", Destination: &f.level,
				Usage: "compression `LEVEL`: gzip 1-9 (default 9), zstd 1-22 (15), lzo 1-9 (8)"},
			&cli.IntFlag{Name: "Xwindow-size", Destination: &f.window, Usage: "gzip's window `SIZE`, 8-15 (default 15)"},
			&cli.IntFlag{Name: "Xdict-size", Destination: &f.dictSize,
				Usage: "xz's dictionary `SIZE` in bytes: the block size only (smaller ones are not supported)"},
			boolean("Xhc", &f.hc, "lz4's high-compression mode"),
			boolean("noI", &f.noI, "store inodes and directories uncompressed", "noInodeCompression"),
			boolean("noD", &f.noD, "store data blocks uncompressed", "noDataCompression"),
			boolean("noF", &f.noF, "store fragment blocks uncompressed", "noFragmentCompression"),
			boolean("noX", &f.noX, "store xattrs uncompressed", "noXattrCompression"),
			boolean("no-fragments", &f.noFrags, "no fragment blocks: a file's tail is a short block"),
			boolean("always-use-fragments", &f.alwaysFrags, "put the tails of files larger than a block in fragments too"),
			boolean("no-xattrs", &f.noXattrs, "store no xattrs"),
			boolean("no-duplicates", &f.noDups, "do not share the data of files of the same contents"),
			boolean("no-exports", &f.noExports, "no export table (NFS export)"),
			boolean("all-root", &f.allRoot, "make every entry root's (uid and gid 0)"),
			&cli.IntFlag{Name: "processors", Destination: &f.processors,
				Usage: "compress on `N` goroutines (default: every core); the image is the same"},
			&cli.StringFlag{Name: "timestamp", Destination: &f.timestamp,
				Usage: "the image's `TIME` (@SECONDS or a date), as SOURCE_DATE_EPOCH"},
			boolean("quiet", &f.quiet, "print nothing but errors", "q"),
			&cli.IntFlag{Name: "mb", Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
				Usage: "kernel memory in `MB`"},
			boolean("enable-printk", &f.printk, "show the kernel log on stderr", "p"),
			boolean("help", &f.help, "show help"),
		},
		Action: func(c *cli.Context) error {
			if f.help {
				return cli.ShowSubcommandHelp(c)
			}
			if c.NArg() != 1 || f.dir == "" {
				return errors.New("usage: lklimg mkfs -t squashfs [options] -d DIR|TAR IMAGE")
			}
			(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv)
			p, err := squashfsParams(&f)
			if err != nil {
				*status = exitImage
				return err
			}
			*status, err = mkfsSquashfs(&f, p, f.dir, c.Args().First(), stdin, stdout, stderr, os.Getenv)
			return err
		},
	}
}

// squashfsParams turns the flags into squashfstools.Params.
func squashfsParams(f *squashfsFlags) (squashfstools.Params, error) {
	p := squashfstools.Params{
		CompressorOptions:  squashfs.CompressorOptions{Level: f.level, WindowSize: f.window, HC: f.hc, DictSize: uint32(f.dictSize)},
		NoInodeCompression: f.noI, NoDataCompression: f.noD, NoFragmentCompression: f.noF, NoXattrCompression: f.noX,
		NoFragments: f.noFrags, AlwaysFragments: f.alwaysFrags, NoXattrs: f.noXattrs, NoDuplicates: f.noDups,
		NoExports: f.noExports, AllRoot: f.allRoot, Workers: f.processors,
	}
	id, ok := squashfs.CompressorID(f.comp)
	if !ok {
		return p, fmt.Errorf("-comp %s: compressor not known (gzip, xz, lzma, lz4, zstd, lzo)", f.comp)
	}
	p.Compressor = id
	if f.blockSize != "" {
		n, err := parseSize(f.blockSize)
		if err != nil || n < squashfs.MinBlockSize || n > squashfs.MaxBlockSize || n&(n-1) != 0 {
			return p, fmt.Errorf("-b %s: block size must be a power of two between 4K and 1M", f.blockSize)
		}
		p.BlockSize = uint32(n)
	}
	if f.processors < 0 {
		return p, fmt.Errorf("-processors %d: should be 1 or more", f.processors)
	}
	bs := p.BlockSize
	if bs == 0 {
		bs = squashfstools.DefaultBlockSize
	}
	if err := p.CompressorOptions.Check(p.Compressor, bs); err != nil {
		return p, err
	}
	if p.NoFragments && p.AlwaysFragments {
		return p, errors.New("-no-fragments and -always-use-fragments cannot go together")
	}
	return p, nil
}

// squashfsSource opens -d's argument as a Source: a directory's walk,
// or a tar archive (compressed or not; "-": stdin). close releases it.
func squashfsSource(src string, stdin io.Reader, report func(error)) (s archive.Source, close func(), err error) {
	var r io.Reader = stdin
	if src != "-" {
		isTar, err := checkFillSource(src)
		if err != nil {
			return nil, nil, err
		}
		if !isTar {
			ds := hostcopy.NewDirSource(src, report)
			return ds, func() { ds.Close() }, nil
		}
		file, err := os.Open(src)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src, unwrapPathErr(err))
		}
		r = file
		defer func() {
			if err != nil {
				file.Close()
			}
		}()
	}
	dr, _, err := compress.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	return archive.NewReader(dr), func() {
		dr.Close()
		if c, ok := r.(io.Closer); ok && src != "-" {
			c.Close()
		}
	}, nil
}

// mkfsSquashfs makes image from src and returns the exit status.
func mkfsSquashfs(f *squashfsFlags, p squashfstools.Params, src, image string, stdin io.Reader, stdout, stderr io.Writer,
	getenv func(string) string) (int, error) {
	epoch, err := fixedTime(&fsFlags{timestamp: f.timestamp}, getenv)
	if err != nil {
		return exitImage, err
	}
	p.Time = epoch
	status := exitOK
	p.Report = func(err error) {
		status = exitFail
		fmt.Fprintf(stderr, "mkfs: %s: %v\n", image, err)
	}
	var printk io.Writer
	if f.printk {
		printk = stderr
	}
	source, closeSource, err := squashfsSource(src, stdin, p.Report)
	if err != nil {
		return exitImage, fmt.Errorf("-d %w", err)
	}
	defer closeSource()
	size, err := writeSquashfs(image, f.memoryMB, printk, p, source)
	if err != nil {
		return exitImage, err
	}
	if !f.quiet {
		fmt.Fprintf(stdout, "%s: SquashFS 4.0, %s, %d bytes\n", image, squashfs.CompressorName(p.Compressor), size)
	}
	return status, nil
}

// writeSquashfs writes the image, as small as the filesystem: made on
// a large sparse file (tar2fsVirtualSize), then cut to its size. A
// failed image is removed.
func writeSquashfs(image string, memoryMB int, printk io.Writer, p squashfstools.Params, src archive.Source) (int64, error) {
	opts := kernel.DiskOptions{Create: true, Truncate: true, Size: tar2fsVirtualSize, CacheUnsafe: true}
	d, err := bootDisk(image, memoryMB, printk, p.Time, 0, opts)
	if err != nil {
		return 0, err
	}
	defer d.k.Halt()
	fail := func(err error) (int64, error) {
		d.k.Halt()
		os.Remove(image)
		return 0, fmt.Errorf("%s: %w", image, err)
	}
	out, err := d.open()
	if err != nil {
		return fail(err)
	}
	size, err := squashfstools.Mkfs(out, src, p)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.k.ResizeDisk(d.disk, size)
	}
	if err != nil {
		return fail(err)
	}
	if err := d.halt(); err != nil {
		return 0, err
	}
	return size, nil
}

// tar2squashfs is `lklimg tar2fs -t squashfs TAR|- IMAGE`: mksquashfs's
// defaults, the archive read once as a stream.
func tar2squashfs(f *tar2fsFlags, input, image string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	sf := &squashfsFlags{timestamp: f.timestamp, memoryMB: f.memoryMB, quiet: true, printk: f.printk}
	return mkfsSquashfs(sf, squashfstools.Params{}, input, image, stdin, stdout, stderr, getenv)
}

// squashfsTypeSuite is the suite whose commands are these.
const squashfsTypeSuite = "squashfs-tools"
