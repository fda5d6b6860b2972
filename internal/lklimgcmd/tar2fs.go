package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/internal/profile"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"github.com/urfave/cli/v2"
)

// tar2fs: a filesystem image made from a tar archive, as hcsshim's
// tar2ext4 or mkfs.ext4 -d on GNU tar's extraction would make it, without
// root. One library kernel does it all on the image's device (/dev/vda,
// or /dev/vdaN with -P N): mkfs (e2fsprogs.Mkfs) through the device file,
// then the kernel mounts the new filesystem and archive.Import extracts
// the archive into it through its syscalls, then it is unmounted cleanly.
//
// Without -s or -P the image is the smallest that holds the archive: the
// filesystem is made on a large sparse file (tar2fsVirtualSize), whatever
// the input, without a journal and with each group's bitmaps and inode
// table in the group itself (flex_bg size 1, unless -G says otherwise),
// filled with the "alloc=pack" mount option (every allocation in the
// lowest groups), then cut to the groups it uses plus --free
// (e2fsprogs.Minimize), given the journal mke2fs would give its final size
// (e2fsprogs.AddJournal, when the type has one), and the disk cut to it
// (Kernel.ResizeDisk: the virtio backend truncates the file). The groups
// cut take their metadata with them, leaving no unused blocks among the
// groups kept, where flex_bg's packing would leave the cut groups' inode
// tables; and the descriptor table's blocks the cut frees become the
// reserved GDT blocks (mkfs reserves one). With -P the filesystem fills
// the partition, as with -s.
//
// The plan does not depend on the input, so a file and stdin give the
// same image: the archive is read once, as a stream.
//
// Reproducible images: see planIdentity (tar2fs_identity.go): the input
// is read once, its digest taken as it is read, and the UUID set after
// the import.

// tar2fsVirtualSize is the size of the sparse file the smallest image's
// filesystem is made on: 1 TiB, which ext4 with 4 KiB blocks holds
// without 64bit and every host filesystem holds as a sparse file (ext4's
// limit for a file is 16 TiB); it bounds the archive. Only what is
// written takes room.
const tar2fsVirtualSize = 1 << 40

// tar2fsFlags are tar2fs's options: mke2fs's (fsFlags) and its own.
type tar2fsFlags struct {
	fsFlags
	size, free, whiteouts        string
	outputFormat                 string // --output-format
	quiet, verbose, printk, sync bool
	memoryMB                     int
	partition                    int   // -P N: the filesystem fills partition N
	partSize                     int64 // partition N's size, once the disk is attached
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
			tar2fsIdentityHelp + "\n" +
			"Exit status: 0; 1 when some entries could not be extracted (each said); 2 when the image could not be made.",
		UseShortOptionHandling: true,
		Flags: append(f.cliFlags(),
			&cli.StringFlag{Name: "size", Aliases: []string{"s"}, Destination: &f.size,
				Usage: "image `SIZE` (bytes, or with K, M, G, T); the smallest that fits when not given"},
			&cli.StringFlag{Name: "free", Destination: &f.free,
				Usage: "free space `SIZE` to leave in the smallest image (without -s)"},
			&cli.StringFlag{Name: "whiteouts", Destination: &f.whiteouts,
				Usage: "`MODE` for OCI whiteouts (.wh. names): overlay makes overlayfs whiteouts"},
			&cli.StringFlag{Name: "output-format", Destination: &f.outputFormat, Usage: outputFormatHelp},
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
			cliflags.PartitionFlag(&f.partition),
		),
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
	params      e2fsprogs.MkfsParams
	given       given // what of the identity the flags give
	fileSize    int64 // the image file's size while it is filled
	minimize    bool  // no -s: cut to fit afterwards
	free        uint64
	wantJournal bool // the type has a journal: added after Minimize
	// wantOrphanFile: -O orphan_file, added after the journal.
	wantOrphanFile bool
	epoch          *int64
	mountData      string // "alloc=pack" when cut to fit
	whiteouts      string
	// uuid, when set, is given to the filesystem after the import
	// (settledUUID), before the journal is added.
	uuid *[16]byte
}

// tar2Image is tar2fs of a read-only image type (squashfs, erofs: its
// builder), in the --output-format asked: made raw beside the image and
// converted when not raw (output.go).
func tar2Image(f *tar2fsFlags, input, image string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string,
	build func(*tar2fsFlags, string, string, io.Reader, io.Writer, io.Writer, func(string) string) (int, error)) (int, error) {
	format, err := outputFormatFor(f.outputFormat, image)
	if err != nil {
		return exitImage, err
	}
	m, err := newMadeImage(image, format)
	if err != nil {
		return exitImage, err
	}
	status, err := build(f, input, m.path, stdin, stdout, stderr, getenv)
	if err == nil && status != exitImage {
		if err = m.finish(f.quiet, stderr); err != nil {
			status = exitImage
		}
	}
	if err != nil && m.path != image {
		m.remove()
	}
	return status, err
}

// tar2fs makes image from the archive input ("-": stdin). It returns the
// exit status, or an error (status 2) when the image could not be made.
func tar2fs(f *tar2fsFlags, input, image string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	if s, err := tools.ForMkfs(f.fsType); err == nil && (s.Name == squashfsTypeSuite || s.Name == "erofs-utils") {
		build := tar2squashfs
		if s.Name == "erofs-utils" {
			build = tar2erofs
		}
		return tar2Image(f, input, image, stdin, stdout, stderr, getenv, build)
	}
	// The options first, then the input: a missing file is said before
	// the image is touched.
	plan, err := planTar2fs(f, getenv)
	if err != nil {
		return exitImage, err
	}
	format, err := outputFormatFor(f.outputFormat, image)
	if err != nil {
		return exitImage, err
	}
	if f.partition > 0 && f.outputFormat != "" {
		return exitImage, fmt.Errorf("--output-format with -P: the partition is written in place, the disk in its own format")
	}
	var in io.Reader = stdin
	var inSize int64
	var inFile *os.File
	if input != "-" {
		inFile, err = os.Open(input)
		if err != nil {
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
	var printk io.Writer
	if f.printk {
		printk = stderr
	}
	var d *newDisk
	if f.partition > 0 {
		// The partition's size is the filesystem's: planned again for it.
		d, err = bootDisk(image, f.memoryMB, printk, plan.epoch, f.partition, kernel.DiskOptions{CacheUnsafe: !f.sync})
		if err != nil {
			return exitImage, err
		}
		defer d.k.Halt()
		if f.partSize, err = d.size(); err != nil {
			return exitImage, err
		}
		if plan, err = planTar2fs(f, getenv); err != nil {
			return exitImage, err
		}
	}
	what := fmt.Sprintf("tar2fs minimize=%t free=%d whiteouts=%q", plan.minimize, plan.free, plan.whiteouts)
	later, err := planIdentity(&plan.params, plan.given, plan.epoch, what, f.features)
	if err != nil {
		return exitImage, err
	}
	var digest *inputDigest
	if later {
		digest = newInputDigest(in)
		in = digest
	}
	// The image file is new, unless it holds the partition: then it is
	// the user's disk, kept whatever happens. A new one in another format
	// than raw is made raw beside it, and converted at the end.
	remove := func() {}
	var made *madeImage
	if d == nil {
		if made, err = newMadeImage(image, format); err != nil {
			return exitImage, err
		}
		opts := kernel.DiskOptions{Create: true, Truncate: true, Size: plan.fileSize, CacheUnsafe: !f.sync}
		if d, err = bootDisk(made.path, f.memoryMB, printk, plan.epoch, 0, opts); err != nil {
			made.remove()
			return exitImage, err
		}
		defer d.k.Halt()
		remove = func() {
			d.k.Halt()
			made.remove()
		}
	}
	if err := makeFS(d, &plan.params, plan.fileSize); err != nil {
		remove()
		return exitImage, fmt.Errorf("%s: mkfs: %w", image, err)
	}

	bar := tar2fsBar(f, stderr, inSize)
	if bar != nil {
		in = &countingReader{r: in, bar: bar}
	}
	status, used, importErr := tar2fsImport(f, plan, d, in, stdout, stderr, bar)
	profile.WriteHeap("tar2fs", os.Getenv, stderr) // after the import, before the cut: the heap it left
	if importErr != nil && used == 0 {
		// Not mounted: nothing was imported, the image is of no use.
		remove()
		return exitImage, importErr
	}
	if digest != nil && importErr == nil {
		sum, err := digest.Finish()
		if err != nil {
			return exitImage, fmt.Errorf("%s: %w", input, unwrapPathErr(err))
		}
		uuid := settledUUID(&plan.params, what, sum)
		plan.uuid = &uuid
	}
	if plan.minimize {
		if err := shrinkImage(d, plan); err != nil {
			// What stopped the import first: it explains the rest.
			return exitImage, errors.Join(importErr, fmt.Errorf("%s: %w (the image is not usable)", image, err))
		}
	} else if plan.uuid != nil {
		if err := setUUID(d, *plan.uuid); err != nil {
			return exitImage, fmt.Errorf("%s: %w", image, err)
		}
	}
	if f.sync {
		if err := d.sync(); err != nil {
			return exitImage, err
		}
	}
	if err := d.halt(); err != nil {
		return exitImage, errors.Join(importErr, err)
	}
	if made != nil {
		if err := made.finish(f.quiet, stderr); err != nil {
			return exitImage, errors.Join(importErr, err)
		}
	}
	if importErr != nil {
		return exitImage, importErr
	}
	return status, nil
}

// makeFS makes the filesystem of p on the device, of size bytes (the
// device cleared first, as clearDevice says: p.Zeroed follows).
func makeFS(d *newDisk, p *e2fsprogs.MkfsParams, size int64) error {
	f, err := d.open()
	if err != nil {
		return err
	}
	if p.Zeroed, err = clearDevice(f, size); err == nil {
		err = e2fsprogs.Mkfs(f, *p)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// planTar2fs turns the flags into mkfs parameters (mkfsParams, as mkfs's)
// and the rest of the plan.
func planTar2fs(f *tar2fsFlags, getenv func(string) string) (*tar2fsPlan, error) {
	if f.whiteouts != "" && f.whiteouts != "overlay" {
		return nil, fmt.Errorf("--whiteouts %s: the mode is overlay", f.whiteouts)
	}
	plan := &tar2fsPlan{fileSize: tar2fsVirtualSize, minimize: true, whiteouts: f.whiteouts}
	if f.partition > 0 {
		// -P: the filesystem fills the partition, as with -s; until
		// its size is known the flags are checked for 1 GiB.
		plan.fileSize, plan.minimize = f.partSize, false
		if plan.fileSize == 0 {
			plan.fileSize = 1 << 30
		}
	}
	if f.size != "" {
		n, err := parseSize(f.size)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-s %s: not a size (bytes, or with K, M, G, T)", f.size)
		}
		if f.partSize > 0 && n > f.partSize {
			return nil, fmt.Errorf("-s %s: Filesystem larger than apparent device size (partition %d has %d bytes)",
				f.size, f.partition, f.partSize)
		}
		plan.fileSize, plan.minimize = n, false
	}
	if f.free != "" {
		n, err := parseSize(f.free)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--free %s: not a size (bytes, or with K, M, G, T)", f.free)
		}
		if !plan.minimize {
			return nil, errors.New("--free is for the smallest image: with -s or -P, the free space is what the size leaves")
		}
		plan.free = uint64(n)
	}
	if f.inodes != 0 && plan.minimize {
		return nil, errors.New("-N needs -s: the smallest image's inodes are those of the groups it keeps")
	}
	var err error
	if plan.epoch, err = fixedTime(&f.fsFlags, getenv); err != nil {
		return nil, err
	}
	p, g, err := mkfsParams(&f.fsFlags, plan.fileSize, plan.epoch)
	if err != nil {
		return nil, err
	}
	plan.given = g
	if plan.minimize {
		// The layout that the cut leaves whole (see tar2fs): each group's
		// metadata in the group, one reserved GDT block to which the
		// descriptor blocks the cut frees are added.
		if f.flexSize == 0 {
			p.FlexBGSize = 1
		}
		if p.ReservedGDTBlocks == 0 {
			p.ReservedGDTBlocks = 1
		}
		// The journal is added once the size is known (AddJournal), as
		// large as mke2fs would make it for that size, or as -J says.
		plan.wantJournal = p.HasFeature("has_journal")
		plan.wantOrphanFile = p.HasFeature("orphan_file")
		if plan.wantJournal {
			if err := p.SetFeatures("^has_journal,^orphan_file"); err != nil {
				return nil, fmt.Errorf("mkfs: %w", err)
			}
		}
		plan.mountData = "alloc=pack"
	}
	// Planned for a device that reads as zeros, as a new file does; the
	// device says whether it does when the filesystem is made (makeFS).
	// The derived UUID and hash seed (identity) hash it as planned.
	p.Zeroed = true
	plan.params = p
	return plan, nil
}

// tar2fsImport boots the kernel on the new image, mounts it read-write,
// imports the archive and unmounts (newFS.fill, importTar). It returns
// the exit status so far, the blocks the filesystem uses (0 when it could
// not be mounted) and an error that stopped the import.
func tar2fsImport(f *tar2fsFlags, plan *tar2fsPlan, d *newDisk, in io.Reader, stdout, stderr io.Writer, bar *progress.Bar) (int, uint64, error) {
	n := &newFS{d: d, fsType: f.fsType, mountData: plan.mountData}
	image := d.image
	imp := &importTar{who: "tar2fs", image: image, whiteouts: f.whiteouts, verbose: f.verbose, bar: bar,
		stdout: stdout, stderr: stderr}
	status := exitOK
	used, err := n.fill(func(k *kernel.Kernel, dir string) error {
		var err error
		status, err = imp.run(k, dir, in)
		return err
	})
	if used == 0 {
		status = exitImage
	}
	return status, used, err
}

// setUUID gives the unmounted filesystem on the device its settled UUID.
func setUUID(d *newDisk, uuid [16]byte) error {
	out, err := d.open()
	if err != nil {
		return err
	}
	err = e2fsprogs.SetUUID(out, uuid)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// shrinkImage cuts the filesystem on the device to what it uses plus the
// free space asked for and the journal's room, gives it its settled UUID
// (plan.uuid), adds the journal, and cuts
// the disk (the image file) to the filesystem's new end.
func shrinkImage(d *newDisk, plan *tar2fsPlan) error {
	out, err := d.open()
	if err != nil {
		return err
	}
	blocks, err := shrinkFS(out, plan)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return d.k.ResizeDisk(d.disk, int64(blocks*uint64(plan.params.BlockSize)))
}

// shrinkFS is shrinkImage's work on the open device: it returns the
// filesystem's blocks.
func shrinkFS(out *devfile.File, plan *tar2fsPlan) (uint64, error) {
	p := &plan.params
	bs := uint64(p.BlockSize)
	free := (plan.free + bs - 1) / bs
	// The orphan file, as mke2fs makes it with the journal (none when
	// there is no journal), sized for the filesystem's size; its
	// mapping takes 3 blocks at most (a leaf, or the indirect blocks of
	// 512 blocks). With bigalloc each takes whole clusters, a leaf one of
	// its own.
	cluster := uint64(p.ClusterBytes() / p.BlockSize)
	up := func(n uint64) uint64 { return (n + cluster - 1) / cluster * cluster }
	sizes := func(blocks uint64) (uint32, uint64) {
		journal := p.JournalBlocks // -J size=
		if plan.wantJournal && journal == 0 {
			journal = e2fsprogs.DefaultJournalBlocks(blocks)
		}
		orphan := uint64(0)
		if plan.wantOrphanFile && plan.wantJournal && journal > 0 {
			if orphan = p.OrphanFileBlocks; orphan == 0 {
				orphan = e2fsprogs.DefaultOrphanFileBlocks(blocks, cluster)
			}
		}
		return journal, orphan
	}
	room := func(journal uint32, orphan uint64) uint64 {
		return up(free) + up(uint64(journal)) + up(orphan) + 3*cluster
	}
	journal, orphan, err := defaultJournal(out, sizes, room)
	if err != nil {
		return 0, err
	}
	blocks, err := e2fsprogs.Minimize(out, room(journal, orphan))
	if err != nil {
		return 0, fmt.Errorf("shrink: %w", err)
	}
	if plan.uuid != nil {
		if err := e2fsprogs.SetUUID(out, *plan.uuid); err != nil {
			return 0, err
		}
	}
	if plan.wantJournal && journal > 0 {
		if err := e2fsprogs.AddJournal(out, journal); err != nil {
			return 0, fmt.Errorf("add the journal: %w", err)
		}
	}
	if orphan > 0 {
		if err := e2fsprogs.AddOrphanFile(out, orphan); err != nil {
			return 0, fmt.Errorf("add the orphan file: %w", err)
		}
	}
	return blocks, nil
}

// defaultJournal is the journal and orphan file mke2fs would give the
// filesystem Minimize makes (sizes: DefaultJournalBlocks and
// DefaultOrphanFileBlocks of its blocks, or -J size= and -E
// orphan_file_size=), asked of e2fsprogs.MinimizedBlocks with their room
// (room) left free. The size and the journal depend on each other: a
// few rounds settle them (the journal's size is a step function of the
// size); when they do not, the larger journal is taken.
func defaultJournal(out *devfile.File, sizes func(blocks uint64) (uint32, uint64),
	room func(uint32, uint64) uint64) (uint32, uint64, error) {
	var journal uint32
	var orphan uint64
	for i := range 4 {
		blocks, err := e2fsprogs.MinimizedBlocks(out, room(journal, orphan))
		if err != nil {
			return 0, 0, fmt.Errorf("shrink: %w", err)
		}
		j, o := sizes(blocks)
		if j == journal && o == orphan {
			break
		}
		if i == 3 && j < journal {
			break
		}
		journal, orphan = j, o
	}
	return journal, orphan, nil
}

// tar2fsBar returns a progress bar over the input's bytes (total: the
// input file's size) on stderr when it is a terminal and -q is not set.
func tar2fsBar(f *tar2fsFlags, stderr io.Writer, total int64) *progress.Bar {
	if f.quiet {
		return nil
	}
	return progress.OnTerminal(stderr, func() int64 { return total })
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
