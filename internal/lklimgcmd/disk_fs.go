package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/dosfstools"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"github.com/lklimg/lklimg/tools/mkswap"
	"github.com/lklimg/lklimg/tools/repart"
)

// partitionMakers make a partition's filesystem by its Format=, with the
// options systemd-repart gives mkfs (mkfs-util.c make_filesystem), and
// return what is to be done once it is filled (nil: nothing).
var partitionMakers = map[string]func(d *newDisk, p *repart.Planned, epoch *int64) (func() error, error){
	"ext4": mkfsExtPartition, "ext3": mkfsExtPartition, "ext2": mkfsExtPartition,
	"vfat": mkfsFATPartition, "msdos": mkfsFATPartition,
	"swap": mkswapPartition,
}

// mkswapPartition is systemd-repart's `mkswap -L LABEL -U UUID`.
func mkswapPartition(d *newDisk, p *repart.Planned, epoch *int64) (func() error, error) {
	f, err := d.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := mkswap.Mkswap(f, mkswap.Params{Size: int64(p.Size), UUID: p.FSUUID(), Label: repart.FSLabel("swap", p.Label)}); err != nil {
		return nil, err
	}
	return nil, f.Close()
}

// mkfsExtPartition is systemd-repart's `mkfs.ext4 -L LABEL -U UUID -I 256
// -m 0 -E lazy_itable_init=1 -T default`: mke2fs.conf's defaults whatever
// the size (4 KiB blocks, an inode per 16 KiB), no reserved blocks, the
// label cut to 16 bytes, the UUID derived from the partition's. The
// hash seed, random for systemd-repart, is derived from the partition's
// GUID too, so that the bytes are reproducible.
//
// A filesystem to be filled is made without its journal and orphan file,
// which are added once it is filled (AddJournal, AddOrphanFile), as
// tar2fs does: what the journal logs while the tree is copied in depends
// on when the kernel commits, and would make the bytes differ from one
// build to the next.
func mkfsExtPartition(d *newDisk, p *repart.Planned, epoch *int64) (func() error, error) {
	pm, err := extParams(p, int64(p.Size), epoch)
	if err != nil {
		return nil, err
	}
	var after func() error
	if journal, orphan := pm.HasFeature("has_journal"), pm.HasFeature("orphan_file"); populated(p) && journal {
		if err := pm.SetFeatures("^has_journal,^orphan_file"); err != nil {
			return nil, err
		}
		after = func() error { return addJournal(d, pm.Blocks, orphan) }
	}
	return after, mkfsExt(d, pm)
}

// extParams are mkfs.ext4's parameters as systemd-repart runs it, for
// the partition and a filesystem of size bytes made at the build's time.
func extParams(p *repart.Planned, size int64, epoch *int64) (e2fsprogs.MkfsParams, error) {
	pm, err := e2fsprogs.DefaultMkfsParams(size, p.Format)
	if err != nil {
		return pm, err
	}
	if err := pm.SetBlockSize(size, 4096); err != nil {
		return pm, err
	}
	pm.InodeRatio, pm.InodeSize, pm.ReservedPercent = 16384, 256, 0
	pm.Label = repart.FSLabel(p.Format, p.Label)
	pm.UUID = p.FSUUID()
	pm.HashSeed = repart.Derive(p.UUID, "lklimg ext4 hash seed")
	pm.Time = buildTime(epoch)
	return pm, nil
}

// mkfsExt makes the filesystem on the device, its unwritten blocks
// deallocated first (they read as zeros: mke2fs's lazy init).
func mkfsExt(d *newDisk, pm e2fsprogs.MkfsParams) error {
	if _, err := e2fsprogs.PlanMkfs(pm); err != nil {
		return err
	}
	f, err := d.open()
	if err != nil {
		return err
	}
	defer f.Close()
	if pm.Zeroed, err = clearDevice(f, int64(pm.Blocks)*int64(pm.BlockSize)); err != nil {
		return err
	}
	if err := e2fsprogs.Mkfs(f, pm); err != nil {
		return err
	}
	return f.Close()
}

// addJournal adds the journal mke2fs gives a filesystem of blocks blocks,
// and the orphan file after it.
func addJournal(d *newDisk, blocks uint64, orphan bool) error {
	f, err := d.open()
	if err != nil {
		return err
	}
	defer f.Close()
	if err := e2fsprogs.AddJournal(f, e2fsprogs.DefaultJournalBlocks(blocks)); err != nil {
		return fmt.Errorf("add the journal: %w", err)
	}
	if orphan {
		if err := e2fsprogs.AddOrphanFile(f, 0); err != nil {
			return fmt.Errorf("add the orphan file: %w", err)
		}
	}
	return f.Close()
}

// populated reports whether the definition puts anything in.
func populated(p *repart.Planned) bool { return len(p.CopyFiles) > 0 || len(p.MakeDirectories) > 0 }

// mkfsFATPartition is systemd-repart's `mkfs.vfat -i VOLID -n LABEL`, the
// volume ID the first 32 bits of the filesystem UUID derived from the
// partition's, the label made FAT's (upper case, 11 bytes). systemd 252
// adds -F 32 whatever the size; here the FAT type is mkfs.fat's choice
// for the size, as a firmware reads it: a FAT32 of fewer than 65525
// clusters is a FAT16 to the FAT specification, and OVMF refuses it.
func mkfsFATPartition(d *newDisk, p *repart.Planned, epoch *int64) (func() error, error) {
	part, err := partitionOf(d)
	if err != nil {
		return nil, err
	}
	size := p.Size
	if p.ContentSize > 0 {
		size = p.ContentSize // Minimize=: the volume is smaller than its partition
	}
	vp := dosfstools.MkfsParams{Size: int64(size), Partition: part, Label: repart.FSLabel("vfat", p.Label),
		VolumeID: p.VolumeID(), Time: buildTime(epoch)}
	if _, err := dosfstools.PlanMkfs(vp); err != nil {
		return nil, errors.New(errDetail(err))
	}
	f, err := d.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The new image reads as zeros: nothing of an older filesystem is
	// left for a probe to find in what mkfs.fat does not write.
	if err := dosfstools.Mkfs(f, vp); err != nil {
		return nil, err
	}
	return nil, f.Close()
}

// buildTime is the time the filesystems are made at.
func buildTime(epoch *int64) int64 {
	if epoch != nil {
		return *epoch
	}
	return time.Now().Unix()
}

// fillPartition mounts the new filesystem and copies in what the
// definition asks (systemd-repart's do_copy_files, then
// do_make_directories):
//   - CopyFiles= a directory: its contents merged into TARGET when TARGET
//     is a directory already, else TARGET made a copy of it (its parents
//     made 0755); owners, modes, times, extended attributes and hard links
//     kept where the filesystem holds them (hostcopy.To, as cp -a);
//   - a regular file: copied to TARGET; a tar archive (by its name)
//     extracted into TARGET (archive.Import, as tar2fs);
//   - MakeDirectories=: each path made, 0755, the missing parents too.
//
// On FAT the copy goes through fatBuild, as mkfs -t vfat -d's: owners,
// modes and extended attributes are not kept (FAT has none), hard links
// become copies, and what FAT cannot hold (symlinks, device nodes) is
// reported, making the status exitFail. With the time fixed, no stamp
// is later than it (clampTimes).
func fillPartition(d *newDisk, p *repart.Planned, root, mountData string, epoch *int64, stdout, stderr io.Writer) (int, error) {
	if !populated(p) {
		return exitOK, nil
	}
	status := exitOK
	opts := hostcopy.Options{Owners: true, Report: func(err error) {
		fmt.Fprintf(stderr, "lklimg: disk build: %s: %v\n", p.File, err)
		status = exitFail
	}}
	fat := p.Format == "vfat" || p.Format == "msdos"
	if fat {
		// A volume just made: the free count FSInfo holds is right.
		mountData = strings.TrimPrefix(mountData+",usefree", ",")
		opts.Owners, opts.NoXattrs = false, true
	}
	n := &newFS{d: d, fsType: p.Format, mountData: mountData}
	used, err := n.fill(func(k *kernel.Kernel, dir string) error {
		var sys hostcopy.Kernel = k
		if fat {
			sys = newFATBuild(k, epoch)
		}
		for _, cf := range p.CopyFiles {
			st, err := copyFiles(sys, dir, sourcePath(root, cf.Source), cf.Target, opts, stdout, stderr)
			if err != nil {
				return fmt.Errorf("CopyFiles=%s:%s: %w", cf.Source, cf.Target, err)
			}
			status = max(status, st)
		}
		for _, md := range p.MakeDirectories {
			if _, err := mkdirAll(sys, dir, md); err != nil {
				return fmt.Errorf("MakeDirectories=%s: %w", md, err)
			}
		}
		if epoch != nil {
			return clampTimes(k, dir, *epoch, make([]byte, 32<<10))
		}
		return nil
	})
	if used == 0 || err != nil {
		return exitFail, err
	}
	return status, nil
}

// copyFiles copies one CopyFiles= source into the filesystem mounted at
// dir and returns the status.
func copyFiles(sys hostcopy.Kernel, dir, src, target string, opts hostcopy.Options, stdout, stderr io.Writer) (int, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return exitFail, unwrapPathErr(err)
	}
	copyErr := func(err error) (int, error) {
		if errors.Is(err, hostcopy.ErrIncomplete) {
			return exitFail, nil // each failure was reported
		}
		return exitFail, err
	}
	switch {
	case fi.IsDir():
		var st abi.Stat
		if err := sys.Fstatat(abi.AT_FDCWD, path.Join(dir, target), &st, 0); err == nil && st.Mode&abi.S_IFMT == abi.S_IFDIR {
			if err := hostcopy.To(sys, dir, []string{strings.TrimRight(src, "/") + "/."}, target, opts); err != nil {
				return copyErr(err)
			}
			return exitOK, nil
		}
	case isTarName(src):
		kdir, err := mkdirAll(sys, dir, target)
		if err != nil {
			return exitFail, err
		}
		f, err := os.Open(src)
		if err != nil {
			return exitFail, unwrapPathErr(err)
		}
		defer f.Close()
		imp := &importTar{who: "disk build", image: src, stdout: stdout, stderr: stderr}
		return imp.run(sys, kdir, f)
	case !fi.Mode().IsRegular():
		return exitFail, fmt.Errorf("%s: not a directory, a regular file or a tar archive", src)
	}
	if target == "/" {
		return exitFail, fmt.Errorf("%s: a file cannot be copied to the root directory", src)
	}
	if _, err := mkdirAll(sys, dir, path.Dir(target)); err != nil {
		return exitFail, err
	}
	if err := hostcopy.To(sys, dir, []string{src}, target, opts); err != nil {
		return copyErr(err)
	}
	return exitOK, nil
}

// isTarName reports whether a CopyFiles= source is taken for a tar
// archive to extract: by its name, as tar -a chooses a compression.
func isTarName(p string) bool {
	for _, s := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}
