package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/ext4"
	"github.com/urfave/cli/v2"
)

// tar2fs: a filesystem image made from a tar archive, as hcsshim's
// tar2ext4 or mkfs.ext4 -d on GNU tar's extraction would make it, without
// root: mkfs (ext4.Mkfs), then the library kernel mounts the new
// filesystem and archive.Import extracts the archive into it through its
// syscalls, then it is unmounted cleanly.
//
// Without -s the image is the smallest that holds the archive: the
// filesystem is made on a large sparse file (tar2fsVirtualSize) without a
// journal, filled with the "alloc=pack" mount option (every allocation in
// the lowest groups), then cut to the groups it uses plus --free
// (ext4.Minimize), given the journal mke2fs would give its final size
// (ext4.AddJournal, when the type has one), and the file truncated to it.
//
// Reproducible images: with SOURCE_DATE_EPOCH (or --timestamp) every time
// stamp is that time (mkfs's, and the kernel's clock), and the UUID and
// the directory hash seed, unless given (-U, -E hash_seed=), are derived
// from the time, the parameters and the input: a SHA-256 of the input
// file's bytes, read once more for it; stdin, which cannot be read twice,
// counts by the parameters only. The hash seed has to be fixed before
// any directory is indexed, and the UUID seeds metadata checksums, so
// both are known at mkfs time. Two runs on the same input then write the
// same bytes.

// tar2fsVirtualSize is the size of the sparse file a filesystem is made
// on when -s is not given: 1 TiB, which ext4 with 4 KiB blocks holds
// without 64bit and every host filesystem holds as a sparse file (ext4's
// limit for a file is 16 TiB). Only what is written takes room.
const tar2fsVirtualSize = 1 << 40

// Feature bits tar2fs looks at (the ext4 superblock's s_feature_compat).
const (
	compatHasJournal = 0x0004
)

type tar2fsFlags struct {
	fsType, size, free, label, uuid, extended, features, whiteouts, timestamp string
	blockSize, inodes                                                         int
	quiet, verbose, printk, sync                                              bool
	memoryMB                                                                  int
}

// tar2fsCommand is `lklimg tar2fs [options] TAR|- IMAGE`.
func tar2fsCommand(stdin io.Reader, stdout, stderr io.Writer, status *int) *cli.Command {
	var f tar2fsFlags
	return &cli.Command{
		Name:      "tar2fs",
		Usage:     "make a filesystem image from a tar archive (gzip, zstd, xz or bzip2 compressed, or not)",
		ArgsUsage: "TAR|- IMAGE",
		Description: "IMAGE is made anew: SIZE bytes with -s, else the smallest that holds the archive (plus --free).\n" +
			"Entries are extracted as GNU tar -x --xattrs --acls --numeric-owner -p would as root.\n" +
			"SOURCE_DATE_EPOCH (or --timestamp) makes the image reproducible.\n" +
			"Exit status: 0; 1 when some entries could not be extracted (each said); 2 when the image could not be made.",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "ext4", Destination: &f.fsType,
				Usage: "filesystem `TYPE`: ext4, ext3 or ext2"},
			&cli.StringFlag{Name: "size", Aliases: []string{"s"}, Destination: &f.size,
				Usage: "image `SIZE` (bytes, or with K, M, G, T); the smallest that fits when not given"},
			&cli.StringFlag{Name: "free", Destination: &f.free,
				Usage: "free space `SIZE` to leave in the smallest image (without -s)"},
			&cli.IntFlag{Name: "block-size", Aliases: []string{"b"}, Destination: &f.blockSize,
				Usage: "block size in `BYTES` (1024, 2048, 4096), as mke2fs -b"},
			&cli.IntFlag{Name: "inodes", Aliases: []string{"N"}, Destination: &f.inodes,
				Usage: "number of `INODES`, as mke2fs -N (with -s only)"},
			&cli.StringFlag{Name: "label", Aliases: []string{"L"}, Destination: &f.label,
				Usage: "volume `LABEL`, as mke2fs -L"},
			&cli.StringFlag{Name: "uuid", Aliases: []string{"U"}, Destination: &f.uuid,
				Usage: "filesystem `UUID`, as mke2fs -U (random, clear, or a UUID)"},
			&cli.StringFlag{Name: "extended", Aliases: []string{"E"}, Destination: &f.extended,
				Usage: "extended `OPTIONS`, as mke2fs -E: hash_seed=UUID, root_owner=UID:GID"},
			&cli.StringFlag{Name: "features", Aliases: []string{"O"}, Destination: &f.features,
				Usage: "`FEATURES` to set (or ^clear), as mke2fs -O"},
			&cli.StringFlag{Name: "whiteouts", Destination: &f.whiteouts,
				Usage: "`MODE` for OCI whiteouts (.wh. names): overlay makes overlayfs whiteouts"},
			&cli.StringFlag{Name: "timestamp", Destination: &f.timestamp,
				Usage: "the `TIME` of every stamp (@SECONDS or a date), as SOURCE_DATE_EPOCH"},
			&cli.BoolFlag{Name: "sync", Destination: &f.sync,
				Usage: "flush the image to the disk before exiting, as mke2fs does (tar and cp do not)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Destination: &f.quiet,
				Usage: "no progress bar"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Destination: &f.verbose,
				Usage: "list each entry as it is extracted, as tar -v"},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Destination: &f.memoryMB,
				Usage: "kernel memory in `MB` (page cache and queues live in it)"},
			&cli.BoolFlag{Name: "enable-printk", Aliases: []string{"p"}, Destination: &f.printk,
				Usage: "show the kernel log on stderr"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return errors.New("usage: lklimg tar2fs [options] TAR|- IMAGE")
			}
			(&cliflags.Disk{MemoryMB: f.memoryMB}).LimitHeap(os.Getenv)
			var err error
			*status, err = tar2fs(&f, c.Args().Get(0), c.Args().Get(1), stdin, stdout, stderr, os.Getenv)
			return err
		},
	}
}

// tar2fsPlan is what the flags decide before anything is written.
type tar2fsPlan struct {
	params      ext4.MkfsParams
	fileSize    int64 // the image file's size while it is filled
	minimize    bool  // no -s: cut to fit afterwards
	free        uint64
	wantJournal bool // the type has a journal: added after Minimize
	epoch       *int64
	mountData   string // "nobarrier", and "alloc=pack" when cut to fit
	whiteouts   string
}

// tar2fs makes image from the archive input ("-": stdin). It returns the
// exit status, or an error (status 2) when the image could not be made.
func tar2fs(f *tar2fsFlags, input, image string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	plan, err := planTar2fs(f, getenv)
	if err != nil {
		return exitImage, err
	}
	// The input first: a missing file is said before the image is
	// touched.
	var in io.Reader = stdin
	var inFile *os.File
	var inSize int64
	if input != "-" {
		if inFile, err = os.Open(input); err != nil {
			return exitImage, fmt.Errorf("%s: %w", input, unwrapPathErr(err))
		}
		defer inFile.Close()
		if fi, err := inFile.Stat(); err == nil && fi.Mode().IsRegular() {
			inSize = fi.Size()
		} else if err == nil && fi.IsDir() {
			return exitImage, fmt.Errorf("%s: is a directory, not a tar archive", input)
		}
		in = inFile
	}
	if err := plan.identity(f, inFile, input); err != nil {
		return exitImage, err
	}

	out, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return exitImage, fmt.Errorf("%s: %w", image, unwrapPathErr(err))
	}
	defer out.Close()
	if err := out.Truncate(plan.fileSize); err != nil {
		return exitImage, fmt.Errorf("%s: %w", image, unwrapPathErr(err))
	}
	if err := ext4.Mkfs(out, plan.params); err != nil {
		os.Remove(image)
		return exitImage, fmt.Errorf("%s: mkfs: %w", image, err)
	}

	bar := tar2fsBar(f, stderr, inSize)
	if bar != nil {
		in = &countingReader{r: in, bar: bar}
	}
	status, used, importErr := tar2fsImport(f, plan, image, in, stdout, stderr, bar)
	if importErr != nil && used == 0 {
		// Not mounted: nothing was imported, the image is of no use.
		os.Remove(image)
		return exitImage, importErr
	}
	if plan.minimize {
		if err := shrinkImage(out, plan, used); err != nil {
			return exitImage, fmt.Errorf("%s: %w", image, err)
		}
	}
	if f.sync {
		if err := out.Sync(); err != nil {
			return exitImage, fmt.Errorf("%s: %w", image, unwrapPathErr(err))
		}
	}
	if importErr != nil {
		return exitImage, importErr
	}
	return status, nil
}

// planTar2fs turns the flags into mkfs parameters.
func planTar2fs(f *tar2fsFlags, getenv func(string) string) (*tar2fsPlan, error) {
	switch f.fsType {
	case "ext2", "ext3", "ext4":
	default:
		return nil, fmt.Errorf("-t %s: tar2fs makes ext2, ext3 or ext4", f.fsType)
	}
	if f.whiteouts != "" && f.whiteouts != "overlay" {
		return nil, fmt.Errorf("--whiteouts %s: the mode is overlay", f.whiteouts)
	}
	plan := &tar2fsPlan{fileSize: tar2fsVirtualSize, minimize: true, whiteouts: f.whiteouts}
	if f.size != "" {
		n, err := parseSize(f.size)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-s %s: not a size (bytes, or with K, M, G, T)", f.size)
		}
		plan.fileSize, plan.minimize = n, false
	}
	if f.free != "" {
		n, err := parseSize(f.free)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--free %s: not a size (bytes, or with K, M, G, T)", f.free)
		}
		if !plan.minimize {
			return nil, errors.New("--free is for the smallest image: with -s, the free space is what the size leaves")
		}
		plan.free = uint64(n)
	}
	if f.inodes != 0 && plan.minimize {
		return nil, errors.New("-N needs -s: the smallest image's inodes are those of the groups it keeps")
	}
	if f.inodes < 0 {
		return nil, fmt.Errorf("-N %d: not a number of inodes", f.inodes)
	}
	switch f.blockSize {
	case 0, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("-b %d: the block size is 1024, 2048 or 4096", f.blockSize)
	}
	if len(f.label) > 16 {
		return nil, fmt.Errorf("-L %q: a label is at most 16 bytes", f.label)
	}
	ext, err := parseExtended(f.extended)
	if err != nil {
		return nil, err
	}
	if f.timestamp != "" {
		t, err := cliflags.ParseTime(f.timestamp)
		if err != nil {
			return nil, fmt.Errorf("--timestamp %s: %v", f.timestamp, err)
		}
		plan.epoch = &t.Sec
	} else if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
		}
		plan.epoch = &sec
	}

	p, err := ext4.DefaultMkfsParams(plan.fileSize, f.fsType)
	if err != nil {
		return nil, fmt.Errorf("mkfs: %w", err)
	}
	if f.blockSize != 0 {
		p.BlockSize = uint32(f.blockSize)
	}
	p.Blocks = uint64(plan.fileSize) / uint64(p.BlockSize)
	p.Inodes = uint32(f.inodes)
	p.Label = f.label
	p.HashSeed = ext.hashSeed
	if ext.rootOwner {
		p.RootUID, p.RootGID = ext.uid, ext.gid
	}
	if f.features != "" {
		if err := p.SetFeatures(f.features); err != nil {
			return nil, fmt.Errorf("-O %s: %w", f.features, err)
		}
	}
	if plan.minimize {
		// The journal is added once the size is known (AddJournal), as
		// large as mke2fs would make it for that size.
		plan.wantJournal = p.Compat&compatHasJournal != 0
		if plan.wantJournal {
			if err := p.SetFeatures("^has_journal"); err != nil {
				return nil, fmt.Errorf("mkfs: %w", err)
			}
		}
		plan.mountData = "alloc=pack"
	}
	plan.mountData = strings.Trim(plan.mountData+",nobarrier", ",")
	p.Zeroed = true // a new file, truncated: it reads as zeros
	p.Time = time.Now().Unix()
	if plan.epoch != nil {
		p.Time = *plan.epoch
	}
	plan.params = p
	return plan, nil
}

// extendedOptions are the mke2fs -E options tar2fs knows.
type extendedOptions struct {
	hashSeed  [16]byte
	rootOwner bool
	uid, gid  uint32
}

// parseExtended parses -E: hash_seed=UUID, root_owner=UID:GID.
func parseExtended(s string) (extendedOptions, error) {
	var o extendedOptions
	if s == "" {
		return o, nil
	}
	for _, opt := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(opt, "=")
		switch name {
		case "hash_seed":
			u, err := parseUUID(value)
			if err != nil {
				return o, fmt.Errorf("-E hash_seed=%s: %v", value, err)
			}
			o.hashSeed = u
		case "root_owner":
			u, g, ok := strings.Cut(value, ":")
			uid, err1 := strconv.ParseUint(u, 10, 32)
			gid, err2 := strconv.ParseUint(g, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return o, fmt.Errorf("-E root_owner=%s: want UID:GID", value)
			}
			o.rootOwner, o.uid, o.gid = true, uint32(uid), uint32(gid)
		default:
			return o, fmt.Errorf("-E %s: unknown option (hash_seed=UUID, root_owner=UID:GID)", opt)
		}
	}
	return o, nil
}

// identity sets the UUID and the hash seed: given, derived (reproducible
// runs: see the file's comment) or random.
func (plan *tar2fsPlan) identity(f *tar2fsFlags, in *os.File, input string) error {
	p := &plan.params
	var zero [16]byte
	uuidGiven := f.uuid != "" && f.uuid != "random"
	if uuidGiven {
		if f.uuid == "clear" || f.uuid == "null" {
			p.UUID = zero
		} else {
			u, err := parseUUID(f.uuid)
			if err != nil {
				return fmt.Errorf("-U %s: %v", f.uuid, err)
			}
			p.UUID = u
		}
	}
	seedGiven := p.HashSeed != zero
	reproducible := plan.epoch != nil || uuidGiven || seedGiven
	if !reproducible || f.uuid == "random" {
		if !uuidGiven {
			p.UUID = randomUUID()
			uuidGiven = true
		}
	}
	if !reproducible && !seedGiven {
		p.HashSeed = randomUUID()
		seedGiven = true
	}
	if uuidGiven && seedGiven {
		return nil
	}
	var digest []byte
	if in != nil {
		if fi, err := in.Stat(); err == nil && fi.Mode().IsRegular() {
			h := sha256.New()
			if _, err := io.Copy(h, in); err != nil {
				return fmt.Errorf("%s: %w", input, unwrapPathErr(err))
			}
			if _, err := in.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("%s: %w", input, unwrapPathErr(err))
			}
			digest = h.Sum(nil)
		}
	}
	if !uuidGiven {
		p.UUID = plan.derive("uuid", digest)
	}
	if !seedGiven {
		p.HashSeed = plan.derive("hash_seed", digest)
	}
	return nil
}

// derive makes a version 4 UUID (RFC 9562 section 5.4's layout, its
// random bits a hash) from what the image depends on: the time, the
// parameters and the input's digest.
func (plan *tar2fsPlan) derive(what string, digest []byte) [16]byte {
	p := &plan.params
	h := sha256.New()
	fmt.Fprintf(h, "lklimg tar2fs %s\x00%d\x00%s\x00%d %d %d %d %d %x %x %x %d %d %v %d %q\x00", what, p.Time, p.FsType,
		p.BlockSize, p.Blocks, p.InodeSize, p.Inodes, p.InodeRatio, p.Compat, p.Incompat, p.RoCompat,
		p.RootUID, p.RootGID, plan.minimize, plan.free, plan.whiteouts)
	h.Write([]byte(p.Label))
	h.Write([]byte{0})
	if what == "hash_seed" {
		h.Write(p.UUID[:])
	}
	h.Write(digest)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func randomUUID() [16]byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// tar2fsImport boots the kernel on the new image, mounts it read-write,
// imports the archive and unmounts. It returns the exit status so far,
// the blocks the filesystem uses (statfs, before the unmount; 0 when it
// could not be mounted) and an error that stopped the import.
func tar2fsImport(f *tar2fsFlags, plan *tar2fsPlan, image string, in io.Reader, stdout, stderr io.Writer, bar *progress.Bar) (int, uint64, error) {
	cfg := kernel.Config{Memory: int64(f.memoryMB) << 20}
	if f.printk {
		cfg.Printk = stderr
	}
	if plan.epoch != nil {
		now := abi.Timespec{Sec: *plan.epoch}
		cfg.Now = func() abi.Timespec { return now }
	}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return exitImage, 0, fmt.Errorf("boot: %w", err)
	}
	defer k.Halt()
	// The image is new: if the build is interrupted it is of no use
	// whatever was flushed, so nothing waits for the host's disk while it
	// is filled (the disk ignores flushes, the filesystem asks for none);
	// --sync flushes the file once at the end.
	dev, err := k.AddDisk(image, kernel.DiskOptions{CacheUnsafe: true})
	if err != nil {
		return exitImage, 0, fmt.Errorf("%s: %w", image, err)
	}
	dir, err := k.MountDev(dev, f.fsType, 0, plan.mountData)
	if err != nil {
		return exitImage, 0, fmt.Errorf("%s: mount the new filesystem: %w", image, err)
	}
	m := &cliflags.Mounted{Kernel: k, Dir: dir, Device: dev, FSType: f.fsType}
	if why := m.ReadOnlyReason(); why != "" {
		return exitImage, 0, fmt.Errorf("%s: the new filesystem cannot be written: %s", image, why)
	}

	r, _, err := compress.NewReader(in)
	if err != nil {
		return exitImage, 0, fmt.Errorf("input: %w", err)
	}
	defer r.Close()
	status := exitOK
	say := func(line string) {
		if bar != nil {
			bar.PrintlnTo(stderr, line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
	opts := archive.ImportOptions{
		Whiteouts: f.whiteouts,
		Report: func(err error) {
			say("lklimg: tar2fs: " + err.Error())
			status = exitFail
		},
		OnEntry: func(h *archive.Header) {
			if bar != nil {
				bar.Entry()
			}
			if f.verbose {
				if bar != nil {
					bar.PrintlnTo(stdout, h.Name)
				} else {
					fmt.Fprintln(stdout, h.Name)
				}
			}
		},
	}
	if bar != nil {
		bar.Start()
	}
	importErr := archive.Import(k, dir, r, opts)
	if bar != nil {
		bar.Stop()
	}
	var stopped *archive.ImportStoppedError
	switch {
	case errors.As(importErr, &stopped):
		importErr = fmt.Errorf("%s: %w", image, importErr)
	case errors.Is(importErr, archive.ErrIncomplete):
		say("lklimg: tar2fs: " + importErr.Error())
		importErr, status = nil, exitFail
	case importErr != nil:
		importErr = fmt.Errorf("%s: %w", image, importErr)
	}
	if importErr == nil {
		// The rest of the input after the archive's end (the record's
		// padding): read, so that a compressed stream's checksum, which
		// closes it, is verified, and a program writing into a pipe sees
		// its input taken, not a broken pipe.
		if _, err := io.Copy(io.Discard, r); err != nil {
			importErr = fmt.Errorf("input: after the archive's end: %w (the image holds what was read before)", err)
		}
	}

	var st abi.Statfs
	var used uint64
	used = 1 // mounted: something is there
	if err := k.Statfs(dir, &st); err == nil && st.Bfree < st.Blocks {
		used = st.Blocks - st.Bfree
	}
	// Unmounting writes everything back and leaves the filesystem clean.
	if err := k.Umount(dir, 0); err != nil {
		return exitImage, 0, fmt.Errorf("%s: unmount: %w", image, err)
	}
	if err := k.Halt(); err != nil {
		return exitImage, 0, fmt.Errorf("%s: %w", image, err)
	}
	return status, used, importErr
}

// shrinkImage cuts the filesystem on out to what it uses plus the free
// space asked for and the journal's room, adds the journal, and truncates
// the file to the filesystem's new end.
func shrinkImage(out *os.File, plan *tar2fsPlan, used uint64) error {
	p := &plan.params
	bs := uint64(p.BlockSize)
	free := (plan.free + bs - 1) / bs
	var journal uint32
	if plan.wantJournal {
		journal = ext4.DefaultJournalBlocks(estimateBlocks(p, used+free))
		journal = max(journal, ext4.DefaultJournalBlocks(estimateBlocks(p, used+free+uint64(journal))))
	}
	blocks, err := ext4.Minimize(out, free+uint64(journal))
	if err != nil {
		return fmt.Errorf("shrink: %w", err)
	}
	if plan.wantJournal && journal > 0 {
		if err := ext4.AddJournal(out, journal); err != nil {
			return fmt.Errorf("add the journal: %w", err)
		}
	}
	if err := out.Truncate(int64(blocks * bs)); err != nil {
		return unwrapPathErr(err)
	}
	return nil
}

// estimateBlocks is the size in blocks of a filesystem with p's geometry
// whose files take data blocks: those, and what statfs leaves out of its
// used blocks: each group's bitmaps and inode table, and the superblock,
// group descriptors and reserved GDT blocks of group 0 and of the backup
// groups (sparse_super: 1 and the powers of 3, 5 and 7) among those kept.
func estimateBlocks(p *ext4.MkfsParams, data uint64) uint64 {
	const (
		compatResizeInode = 0x0010
		incompat64bit     = 0x0080
	)
	bs := uint64(p.BlockSize)
	perGroup := 8 * bs // a block bitmap's bits
	groups := max((p.Blocks+perGroup-1)/perGroup, 1)
	inodes := uint64(p.Inodes)
	if inodes == 0 && p.InodeRatio > 0 {
		inodes = p.Blocks * bs / uint64(p.InodeRatio)
	}
	tableBlocks := (inodes/groups*uint64(max(p.InodeSize, 128)) + bs - 1) / bs
	descPerBlock := bs / 32
	if p.Incompat&incompat64bit != 0 {
		descPerBlock = bs / 64
	}
	gdt := (groups + descPerBlock - 1) / descPerBlock
	var reserved uint64
	if p.Compat&compatResizeInode != 0 {
		// calc_reserved_gdt_blocks: room for 1024 times the size, within
		// 2^32 blocks and one block of pointers.
		most := min(p.Blocks*1024, 1<<32-1)
		want := ((most+perGroup-1)/perGroup + descPerBlock - 1) / descPerBlock
		if want > gdt {
			reserved = min(want-gdt, bs/4)
		}
	}
	need := max((data+perGroup-1)/perGroup, 1)
	copies := uint64(0)
	for g := uint64(0); g < need; g++ {
		if g <= 1 || isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7) {
			copies++
		}
	}
	return data + need*(tableBlocks+2) + copies*(1+gdt+reserved)
}

func isPowerOf(n, b uint64) bool {
	for n > 1 && n%b == 0 {
		n /= b
	}
	return n == 1
}

// tar2fsBar returns a progress bar over the input's bytes (total: the
// input file's size) on stderr when it is a terminal and -q is not set.
func tar2fsBar(f *tar2fsFlags, stderr io.Writer, total int64) *progress.Bar {
	file, ok := stderr.(*os.File)
	if f.quiet || !ok {
		return nil
	}
	term, width := progress.IsTerminal(file)
	if !term {
		return nil
	}
	return progress.New(stderr, total, width, time.Now)
}

// countingReader tells the bar of the input's bytes as they are read.
type countingReader struct {
	r   io.Reader
	bar *progress.Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.Add(int64(n))
	return n, err
}
