package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lklimg/lklimg/archive"
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
	data := n.mountData
	if strings.HasPrefix(n.fsType, "ext") {
		// FAT has no barriers to leave out (and no such option).
		data = strings.TrimPrefix(data+",nobarrier", ",")
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

func (o *importTar) run(k *kernel.Kernel, dir string, in io.Reader) (int, error) {
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
