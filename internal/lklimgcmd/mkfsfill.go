package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// newFS is a filesystem just made on a device, about to be filled
// through the library kernel that made it (mkfs -d, tar2fs).
type newFS struct {
	d         *newDisk
	fsType    string
	mountData string // options beyond "nobarrier" ("alloc=pack")
}

// fill mounts the new filesystem read-write, calls fill on the mount
// point, and unmounts, which writes everything back and leaves the
// filesystem clean. It returns the blocks the filesystem uses (statfs,
// before the unmount; 0 when it could not be mounted, or not unmounted
// cleanly: the image is then of no use) and the errors of fill and of the
// steps.
//
// The image is new: if the build is interrupted it is of no use whatever
// was flushed, so the filesystem, mounted nobarrier, asks for no flush
// while it is filled; the caller flushes the device once at the end if it
// wants it on the disk.
func (n *newFS) fill(fill func(k *kernel.Kernel, dir string) error) (uint64, error) {
	k, image := n.d.k, n.d.image
	data := "nobarrier"
	if n.mountData != "" {
		data = n.mountData + "," + data
	}
	dir, err := k.MountDev(n.d.dev, n.fsType, 0, data)
	if err != nil {
		return 0, fmt.Errorf("%s: mount the new filesystem: %w", image, err)
	}
	m := &cliflags.Mounted{Kernel: k, Dir: dir, Device: n.d.dev, FSType: n.fsType}
	if why := m.ReadOnlyReason(); why != "" {
		k.Umount(dir, 0)
		return 0, fmt.Errorf("%s: the new filesystem cannot be written: %s", image, why)
	}
	fillErr := fill(k, dir)
	var st abi.Statfs
	used := uint64(1) // mounted: something is there
	if err := k.Statfs(dir, &st); err == nil && st.Bfree < st.Blocks {
		used = st.Blocks - st.Bfree
	}
	if err := k.Umount(dir, 0); err != nil {
		return 0, errors.Join(fillErr, fmt.Errorf("%s: unmount: %w", image, err))
	}
	return used, fillErr
}

// importTar is the filling of tar2fs and mkfs -d TAR: the archive in
// (compressed in any way internal/compress detects) extracted into dir
// with archive.Import. Entries that cannot be imported are said on
// stderr, prefixed with who, and make the status exitFail; the error is
// what stopped the import.
type importTar struct {
	who       string // "tar2fs", "mkfs"
	image     string
	whiteouts string
	verbose   bool          // each entry's name on stdout
	bar       *progress.Bar // or nil
	stdout    io.Writer
	stderr    io.Writer
}

func (o *importTar) run(k archive.ImportSyscalls, dir string, in io.Reader) (int, error) {
	r, _, err := compress.NewReader(in)
	if err != nil {
		return exitImage, fmt.Errorf("input: %w", err)
	}
	defer r.Close()
	status := exitOK
	say := func(line string) {
		if o.bar != nil {
			o.bar.PrintlnTo(o.stderr, line)
		} else {
			fmt.Fprintln(o.stderr, line)
		}
	}
	opts := archive.ImportOptions{
		Whiteouts: o.whiteouts,
		Report: func(err error) {
			say("lklimg: " + o.who + ": " + err.Error())
			status = exitFail
		},
		OnEntry: func(h *archive.Header) {
			if o.bar != nil {
				o.bar.Entry()
			}
			if o.verbose {
				if o.bar != nil {
					o.bar.PrintlnTo(o.stdout, h.Name)
				} else {
					fmt.Fprintln(o.stdout, h.Name)
				}
			}
		},
	}
	if o.bar != nil {
		o.bar.Start()
	}
	importErr := archive.Import(k, dir, r, opts)
	if o.bar != nil {
		o.bar.Stop()
	}
	var stopped *archive.ImportStoppedError
	switch {
	case errors.As(importErr, &stopped):
		return status, fmt.Errorf("%s: %w", o.image, importErr)
	case errors.Is(importErr, archive.ErrIncomplete):
		say("lklimg: " + o.who + ": " + importErr.Error())
		status = exitFail
	case importErr != nil:
		return status, fmt.Errorf("%s: %w", o.image, importErr)
	}
	// The rest of the input after the archive's end (the record's
	// padding): read, so that a compressed stream's checksum, which
	// closes it, is verified, and a program writing into a pipe sees its
	// input taken, not a broken pipe.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return status, fmt.Errorf("input: after the archive's end: %w (the image holds what was read before)", err)
	}
	return status, nil
}

// checkFillSource checks what a new filesystem is to be filled from: a
// directory, or a regular file, which is a tar archive (as mke2fs
// 1.47.1's -d takes one). It returns whether it is a tar.
func checkFillSource(source string) (isTar bool, err error) {
	fi, err := os.Stat(source)
	switch {
	case err != nil:
		return false, fmt.Errorf("%s: %w", source, unwrapPathErr(err))
	case fi.IsDir():
		return false, nil
	case fi.Mode().IsRegular():
		return true, nil
	}
	return false, fmt.Errorf("%s: not a directory or a tar archive", source)
}

// fillSource is one thing fillDevice copies into a new volume: Path, a
// host directory (its contents) or a tar archive (gzip, zstd, xz or
// bzip2 compressed, or not), to Target, a directory of the volume ("" or
// "/": its root), made with its parents when missing.
type fillSource struct{ Path, Target string }

// fillOptions says how fillDevice fills a new filesystem.
type fillOptions struct {
	who    string // the command, prefixing each failed entry on stderr: "mkfs"
	image  string // the image's name, in messages
	epoch  *int64 // SOURCE_DATE_EPOCH: no time later than it (nil: none)
	stderr io.Writer
}

// fillDevice fills the FAT volume (fsType "vfat" or "msdos": the same
// bytes, mounted as vfat) just made on the device dev of k ("vda",
// "vda1") from srcs, in order: a directory's contents copied as cptofs
// copies them, a tar archive extracted as tar2fs extracts it. What FAT
// cannot hold is left out or reported as fatBuild says. The volume is
// mounted nobarrier and unmounted clean (newFS.fill): nothing is flushed
// to the host's disk, which the caller does once if it wants. With
// o.epoch the kernel's clock should stand at it (bootDisk), so that the
// creation times it stamps are it too: the same sources and epoch then
// make the same bytes.
//
// It returns exitOK; exitFail when some entries could not be copied
// (each said on o.stderr, "lklimg: WHO: PATH: what: why"), with a nil
// error; or a status and the error that stopped the fill (a full volume,
// an unreadable source, a failed mount: exitImage when nothing was
// written).
func fillDevice(k *kernel.Kernel, dev, fsType string, srcs []fillSource, o fillOptions) (int, error) {
	if fsType != "vfat" && fsType != "msdos" {
		return exitImage, fmt.Errorf("%s: fillDevice fills FAT volumes, not %s", o.image, fsType)
	}
	for _, src := range srcs {
		if _, err := checkFillSource(src.Path); err != nil {
			return exitImage, err
		}
	}
	// usefree: the free count FSInfo holds is right on a volume just made
	// (mkfs.fat counts it), so it is not counted again over the FAT.
	n := &newFS{d: &newDisk{k: k, image: o.image, dev: dev}, fsType: "vfat", mountData: "usefree"}
	status := exitOK
	used, err := n.fill(func(k *kernel.Kernel, dir string) error {
		sys := newFATBuild(k, o.epoch)
		for _, src := range srcs {
			st, err := o.copyIn(sys, dir, src)
			status = max(status, st)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if used == 0 {
		return exitImage, err
	}
	if err != nil {
		return exitFail, err
	}
	return status, nil
}

// copyIn copies one source into the volume mounted on dir, through sys.
func (o *fillOptions) copyIn(sys *fatBuild, dir string, src fillSource) (int, error) {
	target, err := mkdirAll(sys, dir, src.Target)
	if err != nil {
		return exitFail, err
	}
	isTar, err := checkFillSource(src.Path)
	if err != nil {
		return exitFail, err
	}
	if isTar {
		f, err := os.Open(src.Path)
		if err != nil {
			return exitFail, fmt.Errorf("%s: %w", src.Path, unwrapPathErr(err))
		}
		defer f.Close()
		imp := &importTar{who: o.who, image: o.image, stdout: io.Discard, stderr: o.stderr}
		return imp.run(sys, target, f)
	}
	status := exitOK
	opts := hostcopy.Options{
		NoXattrs: true, // fatBuild would drop them
		Report: func(err error) {
			fmt.Fprintf(o.stderr, "lklimg: %s: %v\n", o.who, err)
			status = exitFail
		},
	}
	dst := strings.TrimPrefix(target, strings.TrimSuffix(dir, "/"))
	if dst == "" {
		dst = "/"
	}
	err = hostcopy.To(sys, dir, []string{strings.TrimRight(src.Path, "/") + "/."}, dst, opts)
	var stop *hostcopy.FatalError
	switch {
	case errors.Is(err, hostcopy.ErrIncomplete):
		return exitFail, nil // each failure was reported
	case errors.As(err, &stop):
		return exitFail, err // it names the entry
	case err != nil:
		return exitFail, fmt.Errorf("%s: %w", src.Path, err)
	}
	return status, nil
}

// mkdirAll makes the directory rel of the tree at dir, with its parents
// (as mkdir -p, 0755), and returns its kernel path.
func mkdirAll(sys archive.ImportSyscalls, dir, rel string) (string, error) {
	p := strings.TrimSuffix(dir, "/")
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			return "", fmt.Errorf("%s: a target with \"..\"", rel)
		}
		p += "/" + c
		err := sys.Mkdirat(abi.AT_FDCWD, p, 0o755)
		if errors.Is(err, abi.EEXIST) {
			var st abi.Stat
			if err = sys.Fstatat(abi.AT_FDCWD, p, &st, abi.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&abi.S_IFMT != abi.S_IFDIR {
				err = abi.ENOTDIR
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s: mkdir %s: %w", rel, strings.TrimPrefix(p, dir), err)
		}
	}
	if p == "" {
		p = "/"
	}
	return p, nil
}
