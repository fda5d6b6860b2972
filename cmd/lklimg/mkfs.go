package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"github.com/urfave/cli/v2"
)

// mkfsFlags are mkfs's options, mke2fs's letters.
type mkfsFlags struct {
	fsFlags
	size, dir    string
	quiet, force bool
	memoryMB     int
}

// mkfsCommand is `lklimg mkfs IMAGE`: an empty ext2, ext3 or ext4 laid
// out as mke2fs 1.47 lays it out, optionally filled from a host
// directory. Unlike the other subcommands it mounts nothing to start
// with: it makes the filesystem.
func mkfsCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var f mkfsFlags
	return &cli.Command{
		Name:  "mkfs",
		Usage: "make an ext2/ext3/ext4 filesystem on IMAGE, as mke2fs does (-d DIR|TAR fills it)",
		Description: "SIZE is bytes, or a number with K, M, G or T (powers of 1024, as truncate's and mke2fs's;\n" +
			"KB, MB, GB, TB are powers of 1000). With -s the file is created or resized, and reads as zeros;\n" +
			"without it the filesystem fills the existing file (whose contents are discarded, as mke2fs\n" +
			"discards a device's) or device.\n" +
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
				Usage: "kernel memory in `MB` for -d"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: lklimg mkfs [options] IMAGE")
			}
			if f.dir != "" {
				(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv, true)
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

// mkfsImage is the image being made: the open file, its size, whether
// it is a regular file (cleared to zeros before the filesystem is
// written), and whether mkfs created it.
type mkfsImage struct {
	f        *os.File
	size     int64
	regular  bool
	created  bool
	name     string
	sizeFlag string
}

// openImage opens (creating) the image and finds the filesystem's size:
// -s SIZE, else the file's or device's. It changes nothing yet.
func openImage(image, sizeFlag string, force bool) (*mkfsImage, error) {
	var size int64 = -1
	if sizeFlag != "" {
		var err error
		if size, err = parseSize(sizeFlag); err != nil {
			return nil, fmt.Errorf("-s %s: %w", sizeFlag, err)
		}
	}
	_, statErr := os.Lstat(image)
	fl, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", image, unwrapPathErr(err))
	}
	img := &mkfsImage{f: fl, name: image, sizeFlag: sizeFlag, created: os.IsNotExist(statErr)}
	fail := func(err error) (*mkfsImage, error) {
		img.abandon()
		return nil, err
	}
	fi, err := fl.Stat()
	if err != nil {
		return fail(err)
	}
	if !force {
		// mke2fs asks before overwriting a filesystem; lklimg refuses.
		var magic [2]byte
		if n, _ := fl.ReadAt(magic[:], 1024+0x38); n == 2 && magic == [2]byte{0x53, 0xEF} {
			return fail(fmt.Errorf("%s contains an ext2/ext3/ext4 file system: use -F to overwrite it", image))
		}
	}
	img.regular = fi.Mode().IsRegular()
	if img.regular {
		if size < 0 {
			size = fi.Size()
		}
		img.size = size
		return img, nil
	}
	end, err := fl.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(fmt.Errorf("%s: size: %w", image, err))
	}
	if size > end {
		return fail(fmt.Errorf("%s: -s %s is larger than the device (%d bytes)", image, sizeFlag, end))
	}
	if size < 0 {
		size = end
	}
	img.size = size
	return img, nil
}

// abandon closes the image after a failure before anything was written,
// removing it if mkfs created it.
func (img *mkfsImage) abandon() {
	img.f.Close()
	if img.created {
		os.Remove(img.name)
	}
}

// clear makes a regular file read as zeros at its new size: cut to
// nothing, then extended (mke2fs discards the whole device first, which
// leaves a file's blocks as holes). It reports whether the image now
// reads as zeros.
func (img *mkfsImage) clear() (bool, error) {
	if !img.regular {
		return false, nil
	}
	err := img.f.Truncate(0)
	if err == nil {
		err = img.f.Truncate(img.size)
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", img.name, unwrapPathErr(err))
	}
	return true, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mkfs makes the filesystem and, with -d, fills it; it returns the exit
// status.
func mkfs(f *mkfsFlags, image string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
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
	img, err := openImage(image, f.size, f.force)
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
	if p.Zeroed, err = img.clear(); err != nil {
		img.abandon()
		return exitFail, err
	}
	if p.HasFeature("has_journal") && sum.JournalBlocks == 0 {
		fmt.Fprintln(stderr, "Filesystem too small for a journal") // mke2fs's words; it goes on without
	}
	if !f.quiet {
		printSummary(stdout, &sum)
	}
	fl := img.f
	if err := e2fsprogs.Mkfs(fl, p); err != nil {
		fl.Close()
		return exitFail, fmt.Errorf("%s: %w", image, err)
	}
	status := exitOK
	if f.dir != "" {
		if !f.quiet {
			fmt.Fprint(stdout, "Copying files into the device: ")
		}
		if status, err = populate(f, image, &p, epoch, tarFile, stdout, stderr); err != nil {
			fl.Close()
			return status, err
		}
		if !f.quiet {
			fmt.Fprintln(stdout, "done")
		}
	}
	// mke2fs flushes the device before it exits; -d's filling did not
	// wait for the host's disk (newFS.fill).
	err = fl.Sync()
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", image, err)
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
func populate(f *mkfsFlags, image string, p *e2fsprogs.MkfsParams, epoch *int64, tarFile *os.File, stdout, stderr io.Writer) (int, error) {
	n := &newFS{image: image, fsType: "ext4", memoryMB: f.memoryMB, epoch: epoch}
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
