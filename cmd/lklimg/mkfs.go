package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/ext4"
	"github.com/urfave/cli/v2"
)

// mkfsFlags are mkfs's options, mke2fs's letters.
type mkfsFlags struct {
	fsType, size, label, uuid, ext, features, journal, dir string
	blockSize, inodes, inodeSize, inodeRatio, flexSize     int
	reserved                                               float64
	quiet, force                                           bool
	memoryMB                                               int
}

// mkfsCommand is `lklimg mkfs IMAGE`: an empty ext2, ext3 or ext4 laid
// out as mke2fs 1.47 lays it out, optionally filled from a host
// directory. Unlike the other subcommands it mounts nothing to start
// with: it makes the filesystem.
func mkfsCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var f mkfsFlags
	return &cli.Command{
		Name:  "mkfs",
		Usage: "make an ext2/ext3/ext4 filesystem on IMAGE, as mke2fs does (-d DIR copies DIR in)",
		Description: "SIZE is bytes, or a number with K, M, G or T (powers of 1024, as truncate's and mke2fs's;\n" +
			"KB, MB, GB, TB are powers of 1000). With -s the file is created or resized, and reads as zeros;\n" +
			"without it the filesystem fills the existing file (whose contents are discarded, as mke2fs\n" +
			"discards a device's) or device.\n" +
			"With SOURCE_DATE_EPOCH set, every time stamp mkfs makes is that time, the times -d copies are\n" +
			"clamped to it (access times become modification times), and the UUID and hash seed not given\n" +
			"are derived from the parameters: the same inputs make the same image.",
		ArgsUsage:              "IMAGE",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "t", Value: "ext4", Destination: &f.fsType, Usage: "filesystem `TYPE`: ext4, ext3 or ext2"},
			&cli.StringFlag{Name: "s", Destination: &f.size, Usage: "make IMAGE `SIZE` bytes (a regular file)"},
			&cli.IntFlag{Name: "b", Destination: &f.blockSize, DefaultText: "by size", Usage: "block size in `BYTES` (1024, 2048, 4096, 65536; as mke2fs.conf)"},
			&cli.IntFlag{Name: "N", Destination: &f.inodes, DefaultText: "from -i", Usage: "`N` inodes"},
			&cli.IntFlag{Name: "I", Destination: &f.inodeSize, DefaultText: "256", Usage: "inode size in `BYTES`"},
			&cli.IntFlag{Name: "i", Destination: &f.inodeRatio, DefaultText: "by size", Usage: "`BYTES` per inode (as mke2fs.conf)"},
			&cli.Float64Flag{Name: "m", Value: -1, Destination: &f.reserved, DefaultText: "5",
				Usage: "`PERCENT` of blocks reserved for root"},
			&cli.IntFlag{Name: "G", Destination: &f.flexSize, DefaultText: "16", Usage: "`N` groups per flex group (flex_bg)"},
			&cli.StringFlag{Name: "L", Destination: &f.label, Usage: "volume `LABEL` (16 bytes at most)"},
			&cli.StringFlag{Name: "U", Destination: &f.uuid, Usage: "filesystem `UUID` (or random)"},
			&cli.StringFlag{Name: "E", Destination: &f.ext, Usage: "extended `OPTIONS`: hash_seed=UUID,root_owner=UID:GID"},
			&cli.StringFlag{Name: "O", Destination: &f.features, Usage: "`FEATURES` to set, or clear with ^ (mke2fs's names)"},
			&cli.StringFlag{Name: "J", Destination: &f.journal, Usage: "journal `OPTIONS`: size=MiB"},
			&cli.StringFlag{Name: "d", Destination: &f.dir, Usage: "copy the host `DIR`'s contents into the new filesystem"},
			&cli.BoolFlag{Name: "q", Destination: &f.quiet, Usage: "print nothing"},
			&cli.BoolFlag{Name: "F", Destination: &f.force, Usage: "overwrite an existing filesystem"},
			&cli.IntFlag{Name: "mb", Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
				Usage: "kernel memory in `MB` for -d"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: lklimg mkfs [options] IMAGE")
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

// parseUUID reads the usual 8-4-4-4-12 hex form.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || len(s) != 36 {
		return u, fmt.Errorf("could not parse UUID: %s", s)
	}
	copy(u[:], b)
	return u, nil
}

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// v4 gives 16 bytes the shape of a random (version 4) UUID.
func v4(u [16]byte) [16]byte {
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// mkfsParams turns the flags into ext4.MkfsParams for a device of size
// bytes. epoch, when set, is SOURCE_DATE_EPOCH: the time stamps, and the
// seed of the UUID and hash seed the flags do not give.
func mkfsParams(f *mkfsFlags, size int64, epoch *int64) (ext4.MkfsParams, error) {
	p, err := ext4.DefaultMkfsParams(size, f.fsType)
	if err != nil {
		return p, fmt.Errorf("-t %s: not ext2, ext3 or ext4", f.fsType)
	}
	if f.blockSize != 0 {
		if err := p.SetBlockSize(size, uint32(f.blockSize)); err != nil {
			return p, fmt.Errorf("-b %d: invalid block size (1024, 2048, 4096 or 65536)", f.blockSize)
		}
	}
	if f.features != "" {
		if err := p.SetFeatures(f.features); err != nil {
			return p, fmt.Errorf("-O %s: %w", f.features, err)
		}
	}
	if f.flexSize != 0 {
		if f.flexSize < 1 || f.flexSize&(f.flexSize-1) != 0 || f.flexSize > 1<<31 {
			return p, fmt.Errorf("-G %d: flex_bg size must be a power of 2", f.flexSize)
		}
		if !p.HasFeature("flex_bg") {
			return p, fmt.Errorf("-G %d: flex_bg feature not enabled, so flex_bg size may not be specified", f.flexSize)
		}
		p.FlexBGSize = uint32(f.flexSize)
	}
	if f.inodeRatio != 0 {
		if f.inodeRatio < 1024 || f.inodeRatio > 65536*1024 {
			return p, fmt.Errorf("-i %d: invalid inode ratio (1024-67108864)", f.inodeRatio)
		}
		p.InodeRatio = uint32(f.inodeRatio)
	}
	if f.inodes < 0 || f.inodes > 1<<32-1 {
		return p, fmt.Errorf("-N %d: invalid number of inodes", f.inodes)
	}
	p.Inodes = uint32(f.inodes)
	if f.inodeSize != 0 {
		p.InodeSize = uint16(f.inodeSize)
		if f.inodeSize < 128 || f.inodeSize > int(p.BlockSize) || f.inodeSize&(f.inodeSize-1) != 0 {
			return p, fmt.Errorf("-I %d: invalid inode size (min 128/max %d)", f.inodeSize, p.BlockSize)
		}
	}
	if f.reserved >= 0 {
		if f.reserved > 50 {
			return p, fmt.Errorf("-m %v: invalid reserved blocks percent", f.reserved)
		}
		p.ReservedPercent = f.reserved
	}
	if len(f.label) > 16 {
		return p, fmt.Errorf("-L %s: a label has 16 bytes at most", f.label)
	}
	p.Label = f.label
	if f.journal != "" {
		v, ok := strings.CutPrefix(f.journal, "size=")
		mib, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, fmt.Errorf("-J %s: only size=MiB is supported", f.journal)
		}
		p.JournalBlocks = uint32(mib << 20 / uint64(p.BlockSize))
		if err := p.SetFeatures("has_journal"); err != nil { // -J asks for one
			return p, err
		}
		if p.JournalBlocks == 0 {
			return p, fmt.Errorf("-J %s: journal too small", f.journal)
		}
	}
	var hashSeedSet bool
	if f.ext != "" {
		for _, o := range strings.Split(f.ext, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "hash_seed":
				u, err := parseUUID(v)
				if err != nil {
					return p, fmt.Errorf("-E %s: %w", o, err)
				}
				p.HashSeed, hashSeedSet = u, true
			case "root_owner":
				us, gs, ok := strings.Cut(v, ":")
				uid, err1 := strconv.ParseUint(us, 10, 32)
				gid, err2 := strconv.ParseUint(gs, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					return p, fmt.Errorf("-E %s: root_owner is UID:GID", o)
				}
				p.RootUID, p.RootGID = uint32(uid), uint32(gid)
			default:
				return p, fmt.Errorf("-E %s: unknown extended option (hash_seed=UUID, root_owner=UID:GID)", o)
			}
		}
	}
	// The seed of what the flags leave to chance: random, or with
	// SOURCE_DATE_EPOCH a hash of the parameters and the time, so that
	// the same inputs give the same image.
	var seed [32]byte
	if epoch != nil {
		p.Time = *epoch
		seed = sha256.Sum256(fmt.Appendf(nil, "lklimg mkfs %d %+v", *epoch, p))
	} else {
		p.Time = time.Now().Unix()
		if _, err := rand.Read(seed[:]); err != nil {
			return p, err
		}
	}
	switch f.uuid {
	case "", "random":
		p.UUID = v4([16]byte(seed[:16]))
	default:
		u, err := parseUUID(f.uuid)
		if err != nil {
			return p, fmt.Errorf("-U %s: %w", f.uuid, err)
		}
		p.UUID = u
	}
	if !hashSeedSet {
		p.HashSeed = v4([16]byte(seed[16:]))
	}
	return p, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (nil when unset).
func sourceDateEpoch(getenv func(string) string) (*int64, error) {
	v := getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<32-1 {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%s: not a time ext4 stores (seconds, 0 to 2^32-1)", v)
	}
	return &n, nil
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

// mkfs makes the filesystem and, with -d, copies the directory in; it
// returns the exit status.
func mkfs(f *mkfsFlags, image string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	epoch, err := sourceDateEpoch(getenv)
	if err != nil {
		return exitImage, err
	}
	if f.dir != "" {
		if fi, err := os.Stat(f.dir); err != nil {
			return exitImage, fmt.Errorf("-d %s: %w", f.dir, unwrapPathErr(err))
		} else if !fi.IsDir() {
			return exitImage, fmt.Errorf("-d %s: not a directory", f.dir)
		}
	}
	img, err := openImage(image, f.size, f.force)
	if err != nil {
		return exitImage, err
	}
	p, err := mkfsParams(f, img.size, epoch)
	if err != nil {
		img.abandon()
		return exitImage, err
	}
	sum, err := ext4.PlanMkfs(p)
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
	err = ext4.Mkfs(fl, p)
	if err == nil {
		err = fl.Sync()
	}
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", image, err)
	}
	if f.dir == "" {
		return exitOK, nil
	}
	if !f.quiet {
		fmt.Fprint(stdout, "Copying files into the device: ")
	}
	status, err := populate(f, image, &p, epoch, stderr)
	if err == nil && !f.quiet {
		fmt.Fprintln(stdout, "done")
	}
	return status, err
}

// printSummary prints what mke2fs prints of the new filesystem.
func printSummary(w io.Writer, s *ext4.MkfsSummary) {
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
// and the directory's contents are copied to its root with their owners,
// modes, times and extended attributes (hostcopy.To, as cptofs copies),
// the kernel's clock at SOURCE_DATE_EPOCH when it is set. As with mke2fs
// -d, the root keeps the mode, owner and times mkfs gave it (only the
// directory's extended attributes are copied to it), and with
// SOURCE_DATE_EPOCH no time stamp is later than it (mke2fs 1.47.1's
// clamping).
func populate(f *mkfsFlags, image string, p *ext4.MkfsParams, epoch *int64, stderr io.Writer) (int, error) {
	cfg := kernel.Config{Memory: int64(f.memoryMB) << 20}
	if epoch != nil {
		now := abi.Timespec{Sec: *epoch}
		cfg.Now = func() abi.Timespec { return now }
	}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return exitImage, fmt.Errorf("boot: %w", err)
	}
	defer k.Halt()
	dev, err := k.AddDisk(image, kernel.DiskOptions{})
	if err != nil {
		return exitImage, fmt.Errorf("%s: %w", image, err)
	}
	dir, err := k.MountDev(dev, "ext4", 0, "")
	if err != nil {
		return exitImage, fmt.Errorf("%s: mount: %w", image, err)
	}
	status := exitOK
	opts := hostcopy.Options{
		Owners: true,
		Report: func(err error) {
			fmt.Fprintf(stderr, "lklimg: mkfs: %v\n", err)
			status = exitFail
		},
	}
	src := strings.TrimRight(f.dir, "/") + "/."
	cerr := hostcopy.To(k, dir, []string{src}, "/", opts)
	if epoch != nil && cerr == nil {
		// hostcopy keeps the sources' access times, which reading them
		// for the copy changes (relatime): they are not an input of
		// the image. Each entry's becomes its modification time, both
		// clamped to SOURCE_DATE_EPOCH.
		cerr = clampTimes(k, dir, *epoch, make([]byte, 32<<10))
	}
	if cerr == nil {
		cerr = restoreRoot(k, dir, p)
	}
	if uerr := k.Umount(dir, 0); uerr != nil {
		cerr = errors.Join(cerr, fmt.Errorf("%s: unmount: %w", image, uerr))
	}
	if herr := k.Halt(); herr != nil {
		cerr = errors.Join(cerr, fmt.Errorf("%s: %w", image, herr))
	}
	if errors.Is(cerr, hostcopy.ErrIncomplete) && status == exitFail {
		return exitFail, nil // each failure was reported
	}
	if cerr != nil {
		return exitFail, fmt.Errorf("-d %s: %w", f.dir, cerr)
	}
	return status, nil
}

// restoreRoot gives the root back the mode, owner and times Mkfs made it
// with, which the copy of "DIR/." took from DIR.
func restoreRoot(k *kernel.Kernel, root string, p *ext4.MkfsParams) error {
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
