package lklimgcmd

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/tools/fdisk"
	"github.com/lklimg/lklimg/tools/repart"
)

// diskOptions are `lklimg disk build`'s flags, systemd-repart's names.
type diskOptions struct {
	definitions cli.StringSlice
	size        string // "auto" or a size
	seed        string // a UUID, "random" or ""
	root        string // where CopyFiles= sources are
	empty       string // "create" or "force"
	arch        string // a GOARCH: what root and usr mean
	timestamp   string
	format      string // --output-format
	memoryMB    int
	quiet, sync bool
}

// diskCommand is `lklimg disk`, whose one subcommand is build.
func diskCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var o diskOptions
	return &cli.Command{
		Name:  "disk",
		Usage: "whole disks: build one from systemd-repart's repart.d definitions",
		Subcommands: []*cli.Command{{
			Name:      "build",
			Usage:     "make a new GPT disk from repart.d definitions, its filesystems made and filled (systemd-repart --empty=create)",
			ArgsUsage: "IMAGE",
			Description: "Each *.conf of the --definitions directories is a [Partition] (Type=, Label=, UUID=, SizeMinBytes=,\n" +
				"SizeMaxBytes=, Weight=, PaddingWeight=, PaddingMinBytes=, PaddingMaxBytes=, Priority=, Flags=, ReadOnly=,\n" +
				"NoAuto=, GrowFileSystem=, Format=ext4|ext3|ext2|vfat, CopyFiles=SOURCE[:TARGET], MakeDirectories=,\n" +
				"Minimize=), laid out as systemd-repart 252 lays out a new image. A CopyFiles= source that is a tar\n" +
				"archive (.tar, .tar.gz, .tgz, .tar.zst, .tar.xz, .tar.bz2) is extracted into TARGET. With --seed and\n" +
				"SOURCE_DATE_EPOCH the same inputs give the same bytes.",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "definitions", Usage: "read the partition definitions from `DIR` (repeatable)", Destination: &o.definitions},
				&cli.StringFlag{Name: "size", Value: "auto", Usage: "the disk's `SIZE` (K, M, G, T: powers of 1024), or auto: the partitions' minimums", Destination: &o.size},
				&cli.StringFlag{Name: "seed", Usage: "derive the GUIDs and filesystem UUIDs from `UUID` (or random)", Destination: &o.seed},
				&cli.StringFlag{Name: "root", Usage: "take CopyFiles= sources under `DIR`", Destination: &o.root},
				&cli.StringFlag{Name: "empty", Value: "create", Usage: "create: IMAGE must not exist; force: replace it", Destination: &o.empty},
				&cli.StringFlag{Name: "architecture", Usage: "the `ARCH` (a Go GOARCH) whose root and usr types Type=root and Type=usr mean", Destination: &o.arch},
				&cli.StringFlag{Name: "timestamp", Usage: "the `TIME` of every stamp (@SECONDS or a date), as SOURCE_DATE_EPOCH", Destination: &o.timestamp},
				&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Usage: "the kernel's memory in `MiB`", Destination: &o.memoryMB},
				&cli.StringFlag{Name: "output-format", Usage: outputFormatHelp, Destination: &o.format},
				&cli.BoolFlag{Name: "sync", Usage: "flush the image to the disk before exiting (systemd-repart does; tar2fs, tar and cp do not)", Destination: &o.sync},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors and warnings", Destination: &o.quiet},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					*status = exitImage
					return errors.New("usage: lklimg disk build --definitions DIR [options] IMAGE")
				}
				// Peak RSS bounded by -m, as every command that writes.
				(&cliflags.Disk{MemoryMB: o.memoryMB}).LimitHeap(os.Getenv)
				st, err := diskBuild(c.Args().First(), &o, os.Getenv, stdout, stderr)
				*status = st
				return err
			},
		}},
	}
}

// diskBuild makes the disk: the definitions read and the disk laid out
// (tools/repart), the image created and its GPT written through
// /dev/vda (tools/fdisk) and read again (BLKRRPART), then each partition
// with a Format= made (e2fsprogs, dosfstools) and filled (CopyFiles=,
// MakeDirectories=) through the kernel, as systemd-repart does through
// a loop device. It returns the exit status.
func diskBuild(image string, o *diskOptions, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	if len(o.definitions.Value()) == 0 {
		return exitImage, errors.New("--definitions DIR: no definitions given")
	}
	if o.empty != "create" && o.empty != "force" {
		return exitImage, fmt.Errorf("--empty %s: create or force", o.empty)
	}
	var size uint64
	if o.size != "auto" {
		n, err := repart.ParseSize(o.size)
		if err != nil || n == 0 {
			return exitImage, fmt.Errorf("--size %s: a size (K, M, G, T) or auto", o.size)
		}
		size = n
	}
	warn := func(s string) { fmt.Fprintf(stderr, "lklimg: disk build: %s\n", s) }
	defs, err := repart.Read(o.definitions.Value(), o.arch, warn)
	if err != nil {
		return exitImage, err
	}
	for _, d := range defs {
		if d.Format != "" {
			if _, ok := partitionMakers[d.Format]; !ok {
				return exitImage, fmt.Errorf("%s: Format=%s: disk build makes ext4, ext3, ext2, vfat, msdos and swap", d.File, d.Format)
			}
			if d.Format == "swap" && (len(d.CopyFiles) > 0 || len(d.MakeDirectories) > 0) {
				return exitImage, fmt.Errorf("%s: Format=swap holds no files (CopyFiles=, MakeDirectories=)", d.File)
			}
		}
	}
	epoch, err := fixedTime(&fsFlags{timestamp: o.timestamp}, getenv)
	if err != nil {
		return exitImage, err
	}
	format, err := outputFormatFor(o.format, image)
	if err != nil {
		return exitImage, err
	}
	seed, err := diskSeed(o.seed, epoch)
	if err != nil {
		return exitImage, err
	}
	if epoch == nil && o.seed != "" && o.seed != "random" {
		epoch = newestTime(o, defs)
	}
	parts := repart.NewPlanned(defs)
	repart.Identify(parts, seed)
	status := exitOK
	minimized := map[*repart.Planned]string{} // ext: the temporary image
	defer func() {
		for _, f := range minimized {
			os.Remove(f)
		}
	}()
	for _, p := range parts {
		if p.Minimize == "off" || !populated(p) {
			continue
		}
		st, err := minimize(image, p, o, epoch, minimized, stdout, stderr)
		if err != nil {
			return st, fmt.Errorf("%s: Minimize=%s: %w", p.File, p.Minimize, err)
		}
		status = max(status, st)
	}
	l, err := repart.Plan(parts, size, seed)
	if err != nil {
		return exitImage, err
	}
	if _, err := os.Lstat(image); err == nil {
		if o.empty == "create" {
			return exitImage, fmt.Errorf("%s: exists (--empty=force replaces it)", image)
		}
		if err := os.Truncate(image, 0); err != nil {
			return exitImage, err
		}
	}
	// A new image, of no use if the build stops half way: nothing waits
	// for the host's disk unless --sync asks (CacheUnsafe, as tar2fs).
	// In another format than raw it is made raw beside it, converted at
	// the end (output.go); image names it in messages.
	made, err := newMadeImage(image, format)
	if err != nil {
		return exitImage, err
	}
	d, err := bootDisk(made.path, o.memoryMB, nil, epoch, 0, kernel.DiskOptions{Create: true, Size: int64(l.Size), CacheUnsafe: !o.sync})
	if err != nil {
		made.remove()
		return exitImage, err
	}
	d.image = image
	defer d.k.Halt()
	if made.path != image {
		defer made.remove() // the raw image; finish removes it too
	}
	if err := writeTable(d, l.Table); err != nil {
		return exitFail, err
	}
	for _, p := range l.Parts {
		if p.Dropped || p.Format == "" {
			continue
		}
		dev, err := cliflags.PartitionDevice(d.k, image, d.disk, p.Number)
		if err != nil {
			return exitFail, err
		}
		pd := &newDisk{k: d.k, image: image, disk: d.disk, dev: dev}
		where := fmt.Sprintf("%s: partition %d (%s)", image, p.Number, p.File)
		if tmp, ok := minimized[p]; ok {
			if err := copyImage(pd, tmp); err != nil {
				return exitFail, fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		after, err := partitionMakers[p.Format](pd, p, epoch)
		if err != nil {
			return exitFail, fmt.Errorf("%s: %w", where, err)
		}
		st, err := fillPartition(pd, p, o.root, "", epoch, stdout, stderr)
		if err != nil {
			return st, fmt.Errorf("%s: %w", where, err)
		}
		if after != nil {
			if err := after(); err != nil {
				return exitFail, fmt.Errorf("%s: %w", where, err)
			}
		}
		status = max(status, st)
	}
	if o.sync {
		if err := d.sync(); err != nil {
			return exitFail, err
		}
	}
	if !o.quiet {
		for _, p := range l.Parts {
			if p.Dropped {
				fmt.Fprintf(stdout, "%s: dropped (priority %d): the disk has no room for it\n", p.File, p.Priority)
			}
		}
		info, err := d.k.PartitionInfo(d.disk)
		if err != nil {
			return exitFail, err
		}
		nameTypes(&info)
		printPartitionTable(stdout, stderr, image, info)
	}
	if err := d.halt(); err != nil {
		return exitFail, err
	}
	if err := made.finish(true, stderr); err != nil {
		return exitFail, err
	}
	return status, nil
}

// writeTable writes a table through the disk's device, flushes it and
// has the kernel read it again, as sfdisk (and systemd-repart, through
// libfdisk) do.
func writeTable(d *newDisk, t *fdisk.Table) error {
	f, err := d.open()
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fdisk.Write(f, t); err != nil {
		return fmt.Errorf("%s: %w", d.image, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", d.image, err)
	}
	if err := d.k.BlkRrpart(f.Fd()); err != nil {
		return fmt.Errorf("%s: re-reading the partition table: %w", d.image, err)
	}
	return f.Close()
}

// diskSeed is --seed: a UUID; random (also "random"); or, without it and
// with the time fixed (SOURCE_DATE_EPOCH, --timestamp), derived from the
// time: the first 16 bytes of SHA-256("lklimg disk build", the seconds).
func diskSeed(s string, epoch *int64) (repart.ID128, error) {
	switch {
	case s == "random" || s == "" && epoch == nil:
		return repart.RandomID(), nil
	case s == "":
		h := sha256.Sum256([]byte("lklimg disk build\x00" + strconv.FormatInt(*epoch, 10)))
		return repart.ID128(h[:16]), nil
	}
	id, err := repart.ParseID128(s)
	if err != nil {
		return id, fmt.Errorf("--seed %s: a UUID or random", s)
	}
	return id, nil
}

// newestTime is the clock of a build with a --seed and no fixed time:
// the newest modification time of the definitions and of the CopyFiles=
// sources (not what is inside them), so that the same inputs give the
// same bytes without SOURCE_DATE_EPOCH.
func newestTime(o *diskOptions, defs []*repart.Partition) *int64 {
	var newest time.Time
	see := func(p string) {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	for _, dir := range o.definitions.Value() {
		for _, d := range defs {
			see(filepath.Join(dir, d.File))
		}
	}
	for _, d := range defs {
		for _, cf := range d.CopyFiles {
			see(sourcePath(o.root, cf.Source))
		}
	}
	n := newest.Unix()
	if newest.IsZero() {
		n = 0
	}
	return &n
}

// minimize settles a Minimize= partition's ContentSize: for ext4 from
// the filesystem made in a temporary image (kept in minimized), for vfat
// computed (disk_minimize.go).
func minimize(image string, p *repart.Planned, o *diskOptions, epoch *int64, minimized map[*repart.Planned]string, stdout, stderr io.Writer) (int, error) {
	c, err := contentOf(o.root, p)
	if err != nil {
		return exitFail, err
	}
	grow := 1.0
	if p.Minimize == "guess" {
		grow = 1.5
	}
	if p.Format == "vfat" || p.Format == "msdos" {
		p.ContentSize, err = minimizeFAT(c, p, grow)
		return exitOK, err
	}
	tmp, st, err := minimizeExt(image, p, o.root, epoch, o.memoryMB, c, stdout, stderr)
	if err != nil {
		return st, err
	}
	minimized[p] = tmp
	fi, err := os.Stat(tmp)
	if err != nil {
		return exitFail, err
	}
	p.ContentSize = uint64(fi.Size())
	return st, nil
}

// sourcePath is a CopyFiles= source on the host, under --root.
func sourcePath(root, src string) string {
	if root == "" {
		return src
	}
	return filepath.Join(root, src)
}
