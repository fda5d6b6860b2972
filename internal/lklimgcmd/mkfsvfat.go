package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/dosfstools"
	"github.com/urfave/cli/v2"
)

// vfatFlags are `lklimg mkfs -t vfat`'s options: mkfs.fat's letters.
type vfatFlags struct {
	fsType, fatBits, label, volID, timestamp string
	sectorSize, secPerClus, reserved         string
	rootEntries, numFATs, hidden, media      string
	geometry, drive, backup                  string
	noAlign, invariant, quiet, help          bool
	dir, outputFormat                        string
	memoryMB, partition                      int
	ext4Only                                 []*cli.StringFlag
}

// ext4OnlyFlags are mkfs's mke2fs options that mkfs.fat has no
// counterpart of: given with -t vfat they are refused by name rather
// than as unknown.
var ext4OnlyFlags = []string{"N", "G", "L", "U", "E", "O", "J"}

// mkfsTypeArg returns the -t TYPE given to `lklimg mkfs` in args
// (os.Args: "lklimg", "mkfs", ...): "-t T", "-tT", "--type T",
// "--type=T", or t last in a group of short options ("-qt T"); "" if
// none. It is read before the flags are parsed, since the type decides
// which flags mkfs takes.
func mkfsTypeArg(args []string) string {
	if len(args) < 2 || args[1] != "mkfs" {
		return ""
	}
	typ := ""
	for i := 2; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--":
			return typ
		case a == "--type" || a == "-t":
			typ = next()
		case strings.HasPrefix(a, "--type="):
			typ = a[len("--type="):]
		case strings.HasPrefix(a, "--"):
		case strings.HasPrefix(a, "-t") && len(a) > 2:
			typ = strings.TrimPrefix(a[2:], "=")
		case strings.HasPrefix(a, "-") && strings.HasSuffix(a, "t") && strings.Trim(a[1:len(a)-1], "qF") == "":
			typ = next()
		}
	}
	return typ
}

// mkfsCommandFor is `lklimg mkfs` for the type args give: mkfs.fat's
// options for a type dosfstools makes, mke2fs's otherwise.
func mkfsCommandFor(args []string, stdout, stderr io.Writer, status *int) *cli.Command {
	s, err := tools.ForMkfs(mkfsTypeArg(args))
	switch {
	case err == nil && s.Name == "dosfstools":
		return vfatMkfsCommand(stdout, stderr, status)
	case err == nil && s.Name == squashfsTypeSuite:
		return squashfsMkfsCommand(os.Stdin, stdout, stderr, status)
	case err == nil && s.Name == "erofs-utils":
		return erofsMkfsCommand(os.Stdin, stdout, stderr, status)
	}
	return mkfsCommand(stdout, stderr, status)
}

// vfatMkfsCommand is `lklimg mkfs -t vfat IMAGE [SIZE]`: a FAT volume laid
// out as mkfs.fat 4.2 lays it out on a regular file of the same size.
func vfatMkfsCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var f vfatFlags
	str := func(name string, dest *string, usage string) *cli.StringFlag {
		return &cli.StringFlag{Name: name, Destination: dest, Usage: usage}
	}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "t", Aliases: []string{"type"}, Value: "vfat", Destination: &f.fsType,
			Usage: "filesystem `TYPE`: " + strings.Join(tools.MkfsTypes(), ", ")},
		str("F", &f.fatBits, "FAT `SIZE`: 12, 16 or 32 (default: by the volume's size, FAT32 from 512 MiB)"),
		str("n", &f.label, "volume `LABEL`, 11 characters at most (default: none, \"NO NAME\")"),
		str("i", &f.volID, "volume ID, a 32-bit hexadecimal `NUMBER` (default: see SOURCE_DATE_EPOCH)"),
		str("S", &f.sectorSize, "logical sector `SIZE`: 512 to 32768, a power of two (default 512)"),
		str("s", &f.secPerClus, "`SECTORS` per cluster: 1 to 128, a power of two (default: by size)"),
		str("R", &f.reserved, "`NUMBER` of reserved sectors, at least (default 32 on FAT32, else 1)"),
		str("r", &f.rootEntries, "`NUMBER` of root directory entries, at least (FAT12/16; default 512)"),
		str("f", &f.numFATs, "`NUMBER` of FATs, 1 to 4 (default 2)"),
		str("h", &f.hidden, "`NUMBER` of hidden sectors (default: the partition's start, 0 for a file)"),
		str("M", &f.media, "media descriptor `BYTE`: 0xF0 or 0xF8 to 0xFF (default 0xF8)"),
		str("g", &f.geometry, "`HEADS/SECTORS` per track of the BPB's geometry (default: by size)"),
		str("D", &f.drive, "BIOS drive `NUMBER` (default 0x80, 0 on floppies)"),
		str("b", &f.backup, "`SECTOR` of the FAT32 backup boot sector, 0 for none (default 6)"),
		&cli.BoolFlag{Name: "a", Destination: &f.noAlign, Usage: "do not align the data area to clusters"},
		&cli.BoolFlag{Name: "invariant", Destination: &f.invariant,
			Usage: "mkfs.fat --invariant's volume ID (1234abcd) and time (2015-03-14 09:26:53 UTC)"},
		str("timestamp", &f.timestamp, "the `TIME` of the label (@SECONDS or a date), as SOURCE_DATE_EPOCH"),
		&cli.BoolFlag{Name: "q", Destination: &f.quiet, Usage: "print nothing"},
		&cli.BoolFlag{Name: "help", Destination: &f.help, Usage: "show help"},
		str("d", &f.dir, "copy the host directory's contents, or extract the tar archive, `DIR|TAR` into the new volume"),
		&cli.IntFlag{Name: "mb", Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
			Usage: "kernel memory in `MB`"},
		cliflags.PartitionFlag(&f.partition),
		&cli.StringFlag{Name: "output-format", Destination: &f.outputFormat, Usage: outputFormatHelp + "; for a new image (SIZE)"},
	}
	for _, n := range ext4OnlyFlags {
		fl := &cli.StringFlag{Name: n, Hidden: true}
		f.ext4Only = append(f.ext4Only, fl)
		flags = append(flags, fl)
	}
	return &cli.Command{
		Name:  "mkfs",
		Usage: "make a FAT filesystem (-t vfat) on IMAGE, as mkfs.fat 4.2 does",
		Description: "SIZE is bytes, or a number with K, M, G or T (powers of 1024; KB, MB, GB, TB are powers of 1000).\n" +
			"With SIZE the file is created or resized, and reads as zeros; without it the volume fills the\n" +
			"existing file or device, and, as with mkfs.fat, what lay past its FATs and root directory stays.\n" +
			"-P N makes it on partition N (its first SIZE bytes with SIZE); nothing outside is written.\n" +
			"-d DIR copies the directory's contents in, -d TAR extracts the archive (compressed or not), as mcopy -s\n" +
			"would: owners, modes (but read-only: no write permission) and xattrs are left out, hard links copied;\n" +
			"symlinks, devices, FIFOs and sockets are said one by one (exit status 1). The copy is not flushed to\n" +
			"the host's disk.\n" +
			"With SOURCE_DATE_EPOCH set (or --timestamp), the label's time is that time (UTC) and the volume ID\n" +
			"the one mkfs.fat derives from a clock at that second (seconds << 20); -d's times are clamped to it and\n" +
			"the creation times are it: the same inputs make the same image. Without it, they are the clock's,\n" +
			"as mkfs.fat's.",
		ArgsUsage:              "IMAGE [SIZE]",
		UseShortOptionHandling: true,
		// -h is mkfs.fat's hidden sectors: help is --help alone.
		HideHelp: true,
		Flags:    flags,
		Action: func(c *cli.Context) error {
			if f.help {
				return cli.ShowSubcommandHelp(c)
			}
			if c.NArg() < 1 || c.NArg() > 2 {
				return errors.New("usage: lklimg mkfs -t vfat [options] IMAGE [SIZE]")
			}
			for _, fl := range f.ext4Only {
				if c.IsSet(fl.Name) {
					return fmt.Errorf("-%s is an option of mke2fs (-t ext4), not of mkfs.fat (-t %s): see lklimg mkfs -t vfat --help",
						fl.Name, f.fsType)
				}
			}
			if f.dir != "" {
				(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv)
			}
			var err error
			image, size := c.Args().First(), c.Args().Get(1)
			*status, err = inFormat(f.outputFormat, image, f.partition, size != "", f.quiet, stderr, func(path string) (int, error) {
				return mkfsVfat(&f, image, path, size, os.Getenv, stdout, stderr)
			})
			return err
		},
	}
}

// vfatParams turns the flags into dosfstools.MkfsParams (the size and
// partition left to mkfsVfat), the volume's time and ID from -i,
// --invariant, epoch (SOURCE_DATE_EPOCH or --timestamp) or the clock.
func vfatParams(f *vfatFlags, epoch *int64, now time.Time) (p dosfstools.MkfsParams, err error) {
	for _, o := range []struct {
		flag, v string
		dest    any
		max     uint64
		bad     string // mkfs.fat's words for a value it refuses
	}{
		{"F", f.fatBits, &p.FATBits, 32, "Bad FAT type"},
		{"S", f.sectorSize, &p.SectorSize, 1 << 16, "Bad logical sector size"},
		{"s", f.secPerClus, &p.SecPerClus, 255, "Bad number of sectors per cluster"},
		{"R", f.reserved, &p.Reserved, 0xFFFF, "Bad number of reserved sectors"},
		{"r", f.rootEntries, &p.RootEntries, 1 << 16, "Bad number of root directory entries"},
		{"f", f.numFATs, &p.NumFATs, 255, "Bad number of FATs"},
		{"h", f.hidden, &p.Hidden, 1<<32 - 1, "Bad number of hidden sectors"},
		{"M", f.media, &p.Media, 0xFF, "Bad number for media descriptor"},
		{"D", f.drive, &p.DriveNumber, 0xFF, "Bad drive number"},
		{"b", f.backup, &p.BackupBoot, 0xFFFF, "Bad location for backup boot sector"},
	} {
		if o.v == "" {
			continue
		}
		// C's strtol with base 0, as mkfs.fat reads them: 0x.. is hex.
		n, err := strconv.ParseUint(o.v, 0, 64)
		zeroOK := o.flag == "h" || o.flag == "D" || o.flag == "b" // elsewhere 0 is the default's value
		if err != nil || n > o.max || n == 0 && !zeroOK {
			return p, fmt.Errorf("-%s %s: %s : %s", o.flag, o.v, o.bad, o.v)
		}
		switch d := o.dest.(type) {
		case *int:
			*d = int(n)
		case *uint32:
			*d = uint32(n)
		case *uint16:
			*d = uint16(n)
		case *uint8:
			*d = uint8(n)
		}
	}
	p.HiddenGiven, p.DriveGiven, p.BackupGiven = f.hidden != "", f.drive != "", f.backup != ""
	if f.geometry != "" {
		h, s, ok := strings.Cut(f.geometry, "/")
		heads, err1 := strconv.ParseUint(h, 0, 16)
		spt, err2 := strconv.ParseUint(s, 0, 16)
		if !ok || err1 != nil || err2 != nil || heads == 0 || spt == 0 {
			return p, fmt.Errorf("-g %s: Bad format of geometry : %s", f.geometry, f.geometry)
		}
		p.Heads, p.SecPerTrk = uint16(heads), uint16(spt)
	}
	p.NoAlign = f.noAlign
	p.Label = f.label
	switch {
	case f.invariant: // mkfs.fat's, whatever the environment
		p.Time, p.VolumeID = dosfstools.InvariantTime, dosfstools.InvariantVolumeID
	case epoch != nil:
		p.Time = *epoch
		p.VolumeID = dosfstools.VolumeIDAt(*epoch, 0)
	default:
		_, offset := now.Zone()
		p.Time, p.TimeOffset = now.Unix(), offset
		p.VolumeID = dosfstools.VolumeIDAt(now.Unix(), int64(now.Nanosecond()/1000))
	}
	if f.volID != "" {
		id, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f.volID), "0x"), 16, 32)
		if err != nil {
			return p, fmt.Errorf("-i %s: Volume ID must be a hexadecimal number of 32 bits", f.volID)
		}
		p.VolumeID = uint32(id)
	}
	return p, nil
}

// mkfsVfat makes the FAT volume and returns the exit status.
// mkfsVfat makes the volume on path (image names it: they differ for a
// new image in another format, made raw beside it: inFormat).
func mkfsVfat(f *vfatFlags, image, path, size string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	// -d's argument first: a missing one is said before the image is
	// touched.
	if f.dir != "" {
		if _, err := checkFillSource(f.dir); err != nil {
			return exitImage, fmt.Errorf("-d %w", err)
		}
	}
	epoch, err := fixedTime(&fsFlags{timestamp: f.timestamp}, getenv)
	if err != nil {
		return exitImage, err
	}
	p, err := vfatParams(f, epoch, time.Now())
	if err != nil {
		return exitImage, err
	}
	// mkfs.fat does not refuse to overwrite a filesystem: neither does
	// -t vfat (force).
	// With -d, the image is not flushed to the host's disk: mkfs.fat
	// followed by mcopy -s leaves the copy unflushed, and a build that
	// is interrupted is of no use whatever was flushed.
	img, err := openImage(&mkfsFlags{size: size, memoryMB: f.memoryMB, partition: f.partition, force: true,
		cacheUnsafe: f.dir != ""}, path, epoch)
	if err != nil {
		return exitImage, err
	}
	p.Size = img.size
	if p.Size == 0 {
		img.abandon()
		return exitImage, fmt.Errorf("%s: the image is empty: give its SIZE (lklimg mkfs -t vfat IMAGE SIZE)", image)
	}
	if f.partition != 0 {
		if p.Partition, err = partitionOf(img.d); err != nil {
			img.abandon()
			return exitImage, err
		}
	}
	sum, err := dosfstools.PlanMkfs(p)
	if err != nil {
		img.abandon()
		return exitImage, fmt.Errorf("%s: %s", image, errDetail(err))
	}
	if err := img.resize(); err != nil {
		img.abandon()
		return exitImage, err
	}
	for _, w := range sum.Warnings {
		fmt.Fprintln(stderr, w)
	}
	if !f.quiet {
		printVfatSummary(stdout, image, &sum, p.Label)
	}
	d := img.d
	defer d.k.Halt()
	err = dosfstools.Mkfs(img.f, p)
	if cerr := img.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", image, err)
	}
	status := exitOK
	if f.dir != "" {
		// Filled through the kernel's vfat driver, as mkfs -d fills ext4.
		o := fillOptions{who: "mkfs", image: image, epoch: epoch, stderr: stderr}
		if status, err = fillDevice(d.k, d.dev, f.fsType, []fillSource{{Path: f.dir}}, o); err != nil {
			return status, err
		}
	}
	// mkfs.fat fsyncs the device before it exits (with -d, a flush
	// that does nothing).
	if err := d.sync(); err != nil {
		return exitFail, err
	}
	if err := d.halt(); err != nil {
		return exitFail, err
	}
	return status, nil
}

// partitionOf is what mkfs.fat reads from sysfs of the partition d's
// device is: its start and its disk's size, in 512-byte sectors.
func partitionOf(d *newDisk) (*dosfstools.Partition, error) {
	t, err := d.k.PartitionInfo(d.disk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.image, err)
	}
	for _, pi := range t.Partitions {
		if pi.Device == d.dev {
			return &dosfstools.Partition{Start: uint64(pi.Offset) / 512, DiskSectors: uint64(t.Size) / 512}, nil
		}
	}
	return nil, fmt.Errorf("%s: no partition %s", d.image, d.dev)
}

// errDetail is an abi.Error's reason alone (mkfs.fat's words), or err.
func errDetail(err error) string {
	var e *abi.Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return err.Error()
}

// printVfatSummary prints what mkfs.fat -v prints of the new volume.
func printVfatSummary(w io.Writer, image string, s *dosfstools.MkfsSummary, label string) {
	b := &s.Boot
	plural := func(n uint32, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	}
	fmt.Fprintf(w, "%s has %d head%s and %d sector%s per track,\n", image, b.NumHeads, plural(uint32(b.NumHeads), "", "s"),
		b.SecPerTrk, plural(uint32(b.SecPerTrk), "", "s"))
	fmt.Fprintf(w, "hidden sectors 0x%04x;\n", b.HiddSec)
	fmt.Fprintf(w, "logical sector size is %d,\n", b.BytsPerSec)
	fmt.Fprintf(w, "using 0x%02x media descriptor, with %d sectors;\n", b.Media, s.Sectors)
	fmt.Fprintf(w, "drive number 0x%02x;\n", b.DrvNum)
	fmt.Fprintf(w, "filesystem has %d %d-bit FAT%s and %d sector%s per cluster.\n", b.NumFATs, s.Bits,
		plural(uint32(b.NumFATs), "", "s"), b.SecPerClus, plural(uint32(b.SecPerClus), "", "s"))
	fmt.Fprintf(w, "FAT size is %d sector%s, and provides %d cluster%s.\n", s.FATSectors, plural(s.FATSectors, "", "s"),
		s.Clusters, plural(s.Clusters, "", "s"))
	fmt.Fprintf(w, "There %s %d reserved sector%s.\n", plural(uint32(b.RsvdSecCnt), "is", "are"), b.RsvdSecCnt,
		plural(uint32(b.RsvdSecCnt), "", "s"))
	if s.Bits != 32 {
		ents := uint32(b.RootEntCnt)
		secs := (ents*32 + uint32(b.BytsPerSec) - 1) / uint32(b.BytsPerSec)
		fmt.Fprintf(w, "Root directory contains %d slots and uses %d sectors.\n", ents, secs)
	}
	fmt.Fprintf(w, "Volume ID is %08x, ", b.VolID)
	if string(b.VolLab[:]) != "NO NAME    " {
		fmt.Fprintf(w, "volume label %s.\n", label)
	} else {
		fmt.Fprintln(w, "no volume label.")
	}
}
