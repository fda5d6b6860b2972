package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"github.com/urfave/cli/v2"
)

// mkfsFlags are mkfs's options, mke2fs's letters.
type mkfsFlags struct {
	fsFlags
	size, dir    string
	outputFormat string // --output-format, for a new image
	quiet, force bool
	memoryMB     int
	partition    int // -P N: the filesystem goes on partition N
	// cacheUnsafe: the image is never flushed to the host's disk
	// (DiskOptions.CacheUnsafe), as mcopy leaves it (mkfs -t vfat -d).
	cacheUnsafe bool
}

// mkfsCommand is `lklimg mkfs IMAGE`: an empty ext2, ext3 or ext4 laid
// out as mke2fs 1.47 lays it out, optionally filled from a host
// directory. Unlike the other subcommands it mounts nothing to start
// with: it makes the filesystem.
func mkfsCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var f mkfsFlags
	return &cli.Command{
		Name: "mkfs",
		Usage: "make a filesystem (" + strings.Join(tools.MkfsTypes(), ", ") + ") on IMAGE, as mke2fs does (-d DIR|TAR fills it);\n" +
			"with -t vfat as mkfs.fat does, with its options (lklimg mkfs -t vfat --help)",
		Description: "SIZE is bytes, or a number with K, M, G or T (powers of 1024, as truncate's and mke2fs's;\n" +
			"KB, MB, GB, TB are powers of 1000). With -s the file is created or resized, and reads as zeros;\n" +
			"without it the filesystem fills the existing file (whose contents are discarded, as mke2fs\n" +
			"discards a device's) or device.\n" +
			"-P N makes it on partition N of a partitioned disk image, which it fills (-s: its first SIZE bytes);\n" +
			"nothing outside the partition is written.\n" +
			"-d TAR extracts a tar archive (gzip, zstd, xz or bzip2 compressed, or not) as tar2fs does.\n" +
			identityHelp + "\n" +
			"The times -d copies or extracts are then clamped to that time (access times become modification times).",
		ArgsUsage:              "IMAGE",
		UseShortOptionHandling: true,
		Flags: append(f.cliFlags(), f.reservedFlag(),
			&cli.StringFlag{Name: "s", Destination: &f.size, Usage: "make IMAGE `SIZE` bytes (a regular file)"},
			&cli.StringFlag{Name: "d", Destination: &f.dir,
				Usage: "copy the host directory's contents, or extract the tar archive, `DIR|TAR` into the new filesystem"},
			&cli.BoolFlag{Name: "q", Destination: &f.quiet, Usage: "print nothing"},
			&cli.BoolFlag{Name: "F", Destination: &f.force, Usage: "overwrite an existing filesystem"},
			&cli.IntFlag{Name: "mb", Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
				Usage: "kernel memory in `MB`"},
			&cli.StringFlag{Name: "output-format", Destination: &f.outputFormat, Usage: outputFormatHelp + "; for a new image (-s)"},
			cliflags.PartitionFlag(&f.partition),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: lklimg mkfs [options] IMAGE")
			}
			if f.dir != "" {
				(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv)
			}
			var err error
			*status, err = mkfs(&f, c.Args().First(), os.Getenv, stdout, stderr)
			return err
		},
	}
}

// parseSize reads SIZE: bytes, or a number with a suffix K, M, G, T
// (also KiB...; powers of 1024) or KB, MB, GB, TB (powers of 1000).
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGTPBkmgtpib")
	suffix := strings.ToUpper(s[len(num):])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := int64(1)
	if suffix != "" {
		base, exp := int64(1024), strings.Index("KMGTP", suffix[:1])
		switch {
		case exp < 0:
			return 0, fmt.Errorf("invalid size %q", s)
		case suffix[1:] == "" || suffix[1:] == "IB":
		case suffix[1:] == "B":
			base = 1000
		default:
			return 0, fmt.Errorf("invalid size %q", s)
		}
		for range exp + 1 {
			mult *= base
		}
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
}

// mkfsImage is the image being made: the kernel and device it is made
// on, the device open for writing, the filesystem's size, and whether
// mkfs created the image file.
type mkfsImage struct {
	d       *newDisk
	f       *devfile.File
	size    int64
	created bool
	// sizeFlag is -s on the whole disk: the image is to be made size
	// bytes long (resize).
	sizeFlag string
}

// openImage boots a kernel (its clock at epoch, for -d), attaches the
// image (creating it when it does not exist and no partition is asked
// for), opens the device the filesystem goes on and finds the
// filesystem's size: -s SIZE, else the device's (BLKGETSIZE64). It
// changes nothing of the image: with -s on the whole disk, resize makes
// it SIZE bytes long once the filesystem is planned.
func openImage(f *mkfsFlags, image string, epoch *int64) (*mkfsImage, error) {
	var size int64 = -1
	if f.size != "" {
		var err error
		if size, err = parseSize(f.size); err != nil {
			return nil, fmt.Errorf("-s %s: %w", f.size, err)
		}
	}
	whole := f.partition == 0
	// Whether mkfs makes the file, to remove it again on a failure: the
	// host's view of the path, which only the virtio backend opens.
	_, statErr := os.Lstat(image)
	d, err := bootDisk(image, f.memoryMB, nil, epoch, f.partition, kernel.DiskOptions{Create: whole, CacheUnsafe: f.cacheUnsafe})
	if err != nil {
		return nil, err
	}
	img := &mkfsImage{d: d, created: whole && os.IsNotExist(statErr)}
	fail := func(err error) (*mkfsImage, error) {
		img.abandon()
		return nil, err
	}
	if img.f, err = d.open(); err != nil {
		return fail(err)
	}
	if !f.force {
		// mke2fs asks before overwriting a filesystem; lklimg refuses.
		var magic [2]byte
		if n, _ := img.f.ReadAt(magic[:], 1024+0x38); n == 2 && magic == [2]byte{0x53, 0xEF} {
			return fail(fmt.Errorf("%s contains an ext2/ext3/ext4 file system: use -F to overwrite it", image))
		}
	}
	devSize := img.f.Size()
	switch {
	case size < 0:
		size = devSize
	case !whole && size > devSize:
		return fail(fmt.Errorf("%s: -s %s: Filesystem larger than apparent device size (partition %d has %d bytes)",
			image, f.size, f.partition, devSize))
	case whole:
		img.sizeFlag = f.size
	}
	img.size = size
	return img, nil
}

// resize makes the image img.size bytes long for -s on the whole disk,
// once the filesystem is planned (the device closed meanwhile: a disk in
// use cannot change size); a host block device, which keeps its size,
// must hold img.size bytes.
func (img *mkfsImage) resize() error {
	d, size, sizeFlag := img.d, img.size, img.sizeFlag
	devSize := img.f.Size()
	if sizeFlag == "" || size == devSize {
		return nil
	}
	if err := img.f.Close(); err != nil {
		return err
	}
	img.f = nil
	err := d.k.ResizeDisk(d.disk, size)
	switch {
	case errors.Is(err, abi.EOPNOTSUPP) && size > devSize:
		return fmt.Errorf("%s: -s %s is larger than the device (%d bytes)", d.image, sizeFlag, devSize)
	case errors.Is(err, abi.EOPNOTSUPP):
	case err != nil:
		return fmt.Errorf("%s: %w", d.image, err)
	}
	img.f, err = d.open()
	return err
}

// abandon halts the kernel after a failure before anything was written,
// removing the image if mkfs created it.
func (img *mkfsImage) abandon() {
	if img.f != nil {
		img.f.Close()
	}
	img.d.k.Halt()
	if img.created {
		os.Remove(img.d.image)
	}
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mkfs makes the filesystem and, with -d, fills it; it returns the exit
// status. A new image in another format than raw (--output-format, or
// its name) is made raw beside it and converted (output.go).
func mkfs(f *mkfsFlags, image string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	return inFormat(f.outputFormat, image, f.partition, f.size != "", f.quiet, stderr, func(path string) (int, error) {
		return mkfsOn(f, image, path, getenv, stdout, stderr)
	})
}

// inFormat runs mkfs (build) on the image, or, for a new image in another
// format than raw (--output-format flag, or its name), on a raw image
// beside it, then converted (output.go). An existing image, or a
// partition of one, is written in place in its own format (a qcow2 one as
// qcow2); a new one needs its size (sized).
func inFormat(flag, image string, partition int, sized, quiet bool, stderr io.Writer, build func(path string) (int, error)) (int, error) {
	_, statErr := os.Lstat(image)
	if partition > 0 || statErr == nil {
		if flag != "" {
			return exitImage, fmt.Errorf("--output-format is for a new image: %s exists, and is written in place in its own format", image)
		}
		return build(image)
	}
	format, err := outputFormatFor(flag, image)
	if err != nil {
		return exitImage, err
	}
	if format == "raw" {
		return build(image)
	}
	if !sized {
		return exitImage, fmt.Errorf("%s: a new %s image needs its size", image, format)
	}
	m, err := newMadeImage(image, format)
	if err != nil {
		return exitImage, err
	}
	status, err := build(m.path)
	if err == nil {
		err = m.finish(quiet, stderr)
	}
	if err != nil {
		m.remove()
		return max(status, exitFail), err
	}
	return status, nil
}

// mkfsOn is mkfs on path, which it writes in place (image names it:
// they differ for a new image in another format: inFormat).
func mkfsOn(f *mkfsFlags, image, path string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	// The suite that makes -t's type (tools.Suites): e2fsprogs's mke2fs,
	// the body below; dosfstools' types never reach here
	// (mkfsCommandFor gives them vfatMkfsCommand).
	if _, err := tools.ForMkfs(f.fsType); err != nil {
		return exitImage, fmt.Errorf("-t %s: %w", f.fsType, err)
	}
	epoch, err := fixedTime(&f.fsFlags, getenv)
	if err != nil {
		return exitImage, err
	}
	// -d's argument first: a missing one is said before the image is
	// touched. A regular file is a tar archive (as mke2fs 1.47.1's -d).
	var tarFile *os.File
	if f.dir != "" {
		fi, err := os.Stat(f.dir)
		switch {
		case err != nil:
			return exitImage, fmt.Errorf("-d %s: %w", f.dir, unwrapPathErr(err))
		case fi.IsDir():
		case fi.Mode().IsRegular():
			if tarFile, err = os.Open(f.dir); err != nil {
				return exitImage, fmt.Errorf("-d %s: %w", f.dir, unwrapPathErr(err))
			}
			defer tarFile.Close()
		default:
			return exitImage, fmt.Errorf("-d %s: not a directory or a tar archive", f.dir)
		}
	}
	img, err := openImage(f, path, epoch)
	if err != nil {
		return exitImage, err
	}
	p, g, err := mkfsParams(&f.fsFlags, img.size, epoch)
	if err == nil {
		var digest func() ([]byte, error)
		if tarFile != nil {
			digest = fileDigest(tarFile, f.dir)
		}
		err = identity(&p, g, epoch, "mkfs", digest)
	}
	if err != nil {
		img.abandon()
		return exitImage, err
	}
	sum, err := e2fsprogs.PlanMkfs(p)
	if err != nil {
		img.abandon()
		return exitImage, fmt.Errorf("%s: %w", image, err)
	}
	if err := img.resize(); err != nil {
		img.abandon()
		return exitImage, err
	}
	if p.Zeroed, err = clearDevice(img.f, img.size); err != nil {
		img.abandon()
		return exitFail, err
	}
	if p.HasFeature("has_journal") && sum.JournalBlocks == 0 {
		fmt.Fprintln(stderr, "Filesystem too small for a journal") // mke2fs's words; it goes on without
	}
	if !f.quiet {
		printSummary(stdout, &sum)
	}
	d := img.d
	defer d.k.Halt()
	err = e2fsprogs.Mkfs(img.f, p)
	// Closed before the filling mounts it: the open holds the device.
	if cerr := img.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", image, err)
	}
	status := exitOK
	if f.dir != "" {
		if !f.quiet {
			fmt.Fprint(stdout, "Copying files into the device: ")
		}
		if status, err = populate(f, d, &p, epoch, tarFile, stdout, stderr); err != nil {
			return status, err
		}
		if !f.quiet {
			fmt.Fprintln(stdout, "done")
		}
	}
	// mke2fs flushes the device before it exits.
	if err := d.sync(); err != nil {
		return exitFail, err
	}
	if err := d.halt(); err != nil {
		return exitFail, err
	}
	return status, nil
}

// printSummary prints what mke2fs prints of the new filesystem.
func printSummary(w io.Writer, s *e2fsprogs.MkfsSummary) {
	fmt.Fprintf(w, "Creating filesystem with %d %dk blocks and %d inodes\n", s.Blocks, s.BlockSize>>10, s.Inodes)
	fmt.Fprintf(w, "Filesystem UUID: %s\n", formatUUID(s.UUID))
	if len(s.Backups) > 0 {
		fmt.Fprint(w, "Superblock backups stored on blocks: \n\t")
		for i, b := range s.Backups {
			switch {
			case i == 0:
			case i%5 == 0:
				fmt.Fprint(w, ",\n\t")
			default:
				fmt.Fprint(w, ", ")
			}
			fmt.Fprint(w, b)
		}
		fmt.Fprintln(w)
	}
	if s.JournalBlocks > 0 {
		fmt.Fprintf(w, "Creating journal (%d blocks): done\n", s.JournalBlocks)
	}
}

// populate is mke2fs -d: the kernel mounts the new filesystem read-write
// (newFS.fill) and fills it, the kernel's clock at SOURCE_DATE_EPOCH when
// it is set:
//   - from a tar archive (tarFile), extracted as tar2fs extracts it
//     (importTar), the root's metadata the archive's "./" entry's;
//   - from a directory, whose contents are copied to the root with their
//     owners, modes, times and extended attributes (hostcopy.To, as
//     cptofs copies); as with mke2fs -d, the root keeps the mode, owner
//     and times mkfs gave it (only the directory's extended attributes
//     are copied to it).
//
// With SOURCE_DATE_EPOCH no time stamp is later than it (mke2fs 1.47.1's
// clamping).
func populate(f *mkfsFlags, d *newDisk, p *e2fsprogs.MkfsParams, epoch *int64, tarFile *os.File, stdout, stderr io.Writer) (int, error) {
	n := &newFS{d: d, fsType: "ext4"}
	image := d.image
	status := exitOK
	used, err := n.fill(func(k *kernel.Kernel, dir string) error {
		var err error
		if tarFile != nil {
			imp := &importTar{who: "mkfs", image: image, stdout: stdout, stderr: stderr}
			status, err = imp.run(k, dir, tarFile)
		} else {
			opts := hostcopy.Options{
				Owners: true,
				Report: func(err error) {
					fmt.Fprintf(stderr, "lklimg: mkfs: %v\n", err)
					status = exitFail
				},
			}
			err = hostcopy.To(k, dir, []string{strings.TrimRight(f.dir, "/") + "/."}, "/", opts)
		}
		if epoch != nil && err == nil {
			// The sources' access times are not an input of the image
			// (hostcopy keeps them, and reading the sources for the
			// copy changes them): each entry's becomes its modification
			// time, both clamped to SOURCE_DATE_EPOCH.
			err = clampTimes(k, dir, *epoch, make([]byte, 32<<10))
		}
		if err == nil && tarFile == nil {
			err = restoreRoot(k, dir, p)
		}
		return err
	})
	switch {
	case used == 0:
		return exitImage, err
	case errors.Is(err, hostcopy.ErrIncomplete) && status == exitFail:
		return exitFail, nil // each failure was reported
	case err != nil:
		return exitFail, fmt.Errorf("-d %s: %w", f.dir, err)
	}
	return status, nil
}

// restoreRoot gives the root back the mode, owner and times Mkfs made it
// with, which the copy of "DIR/." took from DIR.
func restoreRoot(k *kernel.Kernel, root string, p *e2fsprogs.MkfsParams) error {
	if err := k.Fchmodat(abi.AT_FDCWD, root, 0o755, 0); err != nil {
		return fmt.Errorf("/: chmod: %w", err)
	}
	if err := k.Fchownat(abi.AT_FDCWD, root, int(p.RootUID), int(p.RootGID), 0); err != nil {
		return fmt.Errorf("/: chown: %w", err)
	}
	t := abi.Timespec{Sec: p.Time}
	if err := k.Utimensat(abi.AT_FDCWD, root, &[2]abi.Timespec{t, t}, 0); err != nil {
		return fmt.Errorf("/: utimensat: %w", err)
	}
	return nil
}

// clampTimes sets the access and modification times of every entry under
// the kernel directory dir, and of dir, to its modification time or
// epoch, whichever is earlier.
func clampTimes(k *kernel.Kernel, dir string, epoch int64, buf []byte) error {
	fd, err := k.Openat(abi.AT_FDCWD, dir, abi.O_RDONLY|abi.O_DIRECTORY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	var names []string
	var ds []abi.Dirent
	for {
		n, err := k.Getdents64(fd, buf)
		if err != nil {
			k.Close(fd)
			return fmt.Errorf("%s: %w", dir, err)
		}
		if n == 0 {
			break
		}
		for _, d := range abi.ParseDirents(buf[:n], ds[:0]) {
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
	k.Close(fd)
	for _, name := range names {
		p := strings.TrimSuffix(dir, "/") + "/" + name
		var st abi.Stat
		if err := k.Fstatat(abi.AT_FDCWD, p, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if st.Mode&abi.S_IFMT == abi.S_IFDIR {
			if err := clampTimes(k, p, epoch, buf); err != nil {
				return err
			}
			continue
		}
		if err := setTimes(k, p, &st, epoch); err != nil {
			return err
		}
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, dir, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return setTimes(k, dir, &st, epoch)
}

func setTimes(k *kernel.Kernel, p string, st *abi.Stat, epoch int64) error {
	t := st.Mtim
	if t.Sec >= epoch {
		t = abi.Timespec{Sec: epoch}
	}
	times := [2]abi.Timespec{t, t}
	if err := k.Utimensat(abi.AT_FDCWD, p, &times, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: utimensat: %w", p, err)
	}
	return nil
}
