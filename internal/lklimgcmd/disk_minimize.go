package lklimgcmd

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"unicode/utf16"

	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/dosfstools"
	"github.com/lklimg/lklimg/tools/repart"
)

// Minimize= (systemd 253 and later): a partition whose filesystem is
// made just large enough for what CopyFiles= and MakeDirectories= put
// in, its size then the partition's minimum. "best" is the smallest
// filesystem that holds it; "guess" leaves half as much again free, as
// systemd's guess (the allocated bytes times 1.5) does. As with
// systemd-repart, the filesystem stays that size when the partition is
// larger (a growfs partition grows it at boot).
//
//   - ext4: made, filled and cut in a temporary image (mkfs, the copy,
//     resize2fs -M's Minimize, then the journal, as tar2fs makes the
//     smallest image), whose blocks are copied into the partition;
//   - vfat: its size computed from the content (each file's clusters,
//     each directory's entries with a long name's slots), the smallest
//     mkfs.fat layout that holds it, then made and filled in place.

// content is what a definition puts into its filesystem, as far as its
// size depends on it: the directories with their entries' names, the
// regular files' sizes (every name's: FAT has no hard links).
type content struct {
	dirs  map[string][]string
	files []int64
	bytes int64 // the files' data
}

// contentOf walks the definition's sources (directories, files and
// tars under root) and MakeDirectories=, placed as fillPartition places
// them.
func contentOf(root string, p *repart.Planned) (*content, error) {
	c := &content{dirs: map[string][]string{"/": nil}}
	for _, cf := range p.CopyFiles {
		src := sourcePath(root, cf.Source)
		fi, err := os.Stat(src)
		if err != nil {
			return nil, unwrapPathErr(err)
		}
		switch {
		case fi.IsDir():
			if _, ok := c.dirs[cf.Target]; !ok {
				c.mkdirAll(cf.Target)
			}
			err = c.walkDir(src, cf.Target)
		case isTarName(src):
			c.mkdirAll(cf.Target)
			err = c.walkTar(src, cf.Target)
		default:
			c.mkdirAll(path.Dir(cf.Target))
			c.add(cf.Target, false, fi.Size())
		}
		if err != nil {
			return nil, err
		}
	}
	for _, d := range p.MakeDirectories {
		c.mkdirAll(d)
	}
	return c, nil
}

// add records an entry at p (absolute, clean) in its parent.
func (c *content) add(p string, dir bool, size int64) {
	parent := path.Dir(p)
	if _, ok := c.dirs[parent]; !ok {
		c.mkdirAll(parent)
	}
	if dir {
		if _, ok := c.dirs[p]; ok {
			return
		}
		c.dirs[p] = nil
	} else if size >= 0 {
		c.files = append(c.files, size)
		c.bytes += size
	}
	c.dirs[parent] = append(c.dirs[parent], path.Base(p))
}

func (c *content) mkdirAll(p string) {
	p = path.Clean("/" + p)
	if _, ok := c.dirs[p]; ok || p == "/" {
		return
	}
	c.add(p, true, 0)
}

// walkDir adds the entries under src at target. Entries that are not
// files or directories count as names (size -1).
func (c *content) walkDir(src, target string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		kp := path.Join(target, filepath.ToSlash(rel))
		switch {
		case e.IsDir():
			c.add(kp, true, 0)
		case e.Type().IsRegular():
			fi, err := e.Info()
			if err != nil {
				return err
			}
			c.add(kp, false, fi.Size())
		default:
			c.add(kp, false, -1)
		}
		return nil
	})
}

// walkTar adds a tar archive's entries at target; a hard link counts
// its target's size.
func (c *content) walkTar(src, target string) error {
	f, err := os.Open(src)
	if err != nil {
		return unwrapPathErr(err)
	}
	defer f.Close()
	r, _, err := compress.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	sizes := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		kp := path.Join(target, name)
		switch h.Typeflag {
		case tar.TypeDir:
			c.add(kp, true, 0)
		case tar.TypeReg, tar.TypeGNUSparse:
			sizes[name] = h.Size
			c.add(kp, false, h.Size)
		case tar.TypeLink:
			c.add(kp, false, sizes[path.Clean("/"+h.Linkname)])
		default:
			c.add(kp, false, -1)
		}
	}
}

// fatNeed is the clusters of cs bytes the content takes on FAT, and the
// root directory's entries: each file's data rounded up to clusters,
// each directory its ".", ".." and for every name a short entry and the
// slots of a long name (13 UTF-16 units each; counted for every name,
// which an 8.3 name does not need). A FAT12/16 root is outside the
// clusters.
func (c *content) fatNeed(cs uint64, fixedRoot bool) (clusters uint64, rootEntries uint64) {
	for _, n := range c.files {
		clusters += (uint64(n) + cs - 1) / cs
	}
	for d, names := range c.dirs {
		entries := uint64(2)
		if d == "/" {
			entries = 0
		}
		for _, n := range names {
			entries += 1 + (uint64(len(utf16.Encode([]rune(n))))+12)/13
		}
		if d == "/" {
			rootEntries = entries
			if fixedRoot {
				continue
			}
		}
		clusters += max(1, (entries*32+cs-1)/cs)
	}
	return clusters, rootEntries
}

// minimizeFAT returns the smallest size (a multiple of 4096) whose
// mkfs.fat layout holds the content times grow (1 for best, 1.5 for
// guess), found by bisection over the layouts PlanMkfs makes.
func minimizeFAT(c *content, p *repart.Planned, grow float64) (uint64, error) {
	fits := func(size uint64) bool {
		s, err := dosfstools.PlanMkfs(dosfstools.MkfsParams{Size: int64(size), Partition: &dosfstools.Partition{Start: 2048, DiskSectors: 2 * size / 512}})
		if err != nil {
			return false
		}
		cs := uint64(s.Boot.BytsPerSec) * uint64(s.Boot.SecPerClus)
		need, root := c.fatNeed(cs, s.Bits != 32)
		if s.Bits != 32 && root > uint64(s.Boot.RootEntCnt) {
			return false
		}
		return float64(s.Clusters) >= float64(need)*grow
	}
	lo, hi := uint64(64<<10), uint64(64<<10)
	for !fits(hi) {
		if hi > 1<<42 {
			return 0, fmt.Errorf("%s: no FAT volume holds its %d bytes in %d files", p.File, c.bytes, len(c.files))
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 4096 {
		mid := (lo + hi) / 2 / 4096 * 4096
		if fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// minimizeExt makes the partition's minimized ext4 in a temporary image
// next to image: mkfs of a size the content suggests (doubled while it
// does not fit), the copy, and tar2fs's cut with the journal added. It
// returns the temporary image (the filesystem, its size the
// filesystem's) and the status of the copy.
func minimizeExt(image string, p *repart.Planned, root string, epoch *int64, memoryMB int, c *content, stdout, stderr io.Writer) (string, int, error) {
	// A first guess: the data in 4 KiB blocks and a block an entry, a
	// quarter more, and room for the metadata of a small filesystem.
	entries := int64(len(c.files))
	for _, names := range c.dirs {
		entries += int64(len(names)) + 1
	}
	size := (c.bytes+entries*4096)*5/4 + 16<<20
	for range 6 {
		tmp, err := os.CreateTemp(filepath.Dir(image), ".lklimg-minimize-*.img")
		if err != nil {
			return "", exitFail, err
		}
		tmp.Close()
		st, err := buildMinimizedExt(tmp.Name(), size, entries, p, root, epoch, memoryMB, stdout, stderr)
		if err == nil {
			return tmp.Name(), st, nil
		}
		os.Remove(tmp.Name())
		if !errors.Is(err, abi.ENOSPC) {
			return "", st, err
		}
		size *= 2
	}
	return "", exitFail, fmt.Errorf("Minimize=: the content does not fit a filesystem of %d bytes", size)
}

// buildMinimizedExt is one try of minimizeExt on a file of size bytes
// with an inode for each of the entries and half as many again.
func buildMinimizedExt(tmp string, size, entries int64, p *repart.Planned, root string, epoch *int64, memoryMB int, stdout, stderr io.Writer) (int, error) {
	d, err := bootDisk(tmp, memoryMB, nil, epoch, 0, kernel.DiskOptions{Create: true, Size: size, CacheUnsafe: true})
	if err != nil {
		return exitFail, err
	}
	defer d.k.Halt()
	pm, err := extParams(p, size, epoch)
	if err != nil {
		return exitFail, err
	}
	pm.Inodes = uint32(min(entries*3/2+64, 1<<31))
	// tar2fs's layout for a filesystem to be cut: each group's metadata
	// in the group, one reserved GDT block, every allocation lowest first
	// (alloc=pack).
	pm.FlexBGSize, pm.ReservedGDTBlocks = 1, 1
	plan := &tar2fsPlan{wantJournal: pm.HasFeature("has_journal"), wantOrphanFile: pm.HasFeature("orphan_file")}
	if err := pm.SetFeatures("^has_journal,^orphan_file"); err != nil {
		return exitFail, err
	}
	if err := mkfsExt(d, pm); err != nil {
		return exitFail, err
	}
	st, err := fillPartition(d, p, root, "alloc=pack", epoch, stdout, stderr)
	if err != nil {
		return st, err
	}
	plan.params = pm
	if p.Minimize == "guess" {
		plan.free = uint64(size) / 3 // of the first guess: the content's half
	}
	if err := shrinkImage(d, plan); err != nil {
		return exitFail, err
	}
	return st, d.halt()
}

// copyImage writes the minimized filesystem in file into the partition:
// its chunks of 1 MiB that are not all zeros (the partition of a new
// image reads as zeros, and stays sparse where the filesystem is).
func copyImage(d *newDisk, file string) error {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := d.open()
	if err != nil {
		return err
	}
	defer out.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > out.Size() {
		return fmt.Errorf("the minimized filesystem (%d bytes) is larger than its partition (%d)", fi.Size(), out.Size())
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
	}
	return out.Close()
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
