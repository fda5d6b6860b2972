package lklimgcmd

import (
	"errors"
	"fmt"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// fatBuild is the kernel as the filling of a new FAT volume sees it
// (mkfs -t vfat -d, disk build's vfat partitions): hostcopy.To and
// archive.Import copy trees through it as through the kernel, and it
// leaves out what FAT cannot hold, as mcopy does, instead of failing each
// entry as Linux's vfat does (cp -a as root to a vfat mount reports
// every owner and setuid mode it cannot keep, coreutils'
// chown_failure_ok; as a user, none):
//
//   - owners are the mount's (chown changes nothing);
//   - of the mode, only "no write permission at all" is kept, as the
//     read-only attribute of a regular file (ATTR_RO); the rest of the
//     mode changes nothing;
//   - extended attributes (ACLs, SELinux labels, capabilities) are
//     dropped;
//   - a hard link becomes a copy of the file it links to, with its
//     attributes and times;
//   - with epoch (SOURCE_DATE_EPOCH), every time set is clamped to it and
//     the access time is the modification time: the sources' access
//     times, which the copy itself changes, are not an input of the
//     image (the kernel's clock, stopped at epoch, stamps the creation
//     times).
//
// Symlinks, device nodes, FIFOs and sockets still fail as the kernel's
// vfat fails them (EPERM, "FAT holds no symbolic links"): each is
// reported on its own and the fill ends with status 1.
type fatBuild struct {
	*kernel.Kernel
	epoch *int64
	buf   []byte // the copy of hard links
}

func newFATBuild(k *kernel.Kernel, epoch *int64) *fatBuild {
	return &fatBuild{Kernel: k, epoch: epoch}
}

// Fchownat changes nothing: every file is the mount's.
func (b *fatBuild) Fchownat(dirfd int, path string, uid, gid int, flags int) error { return nil }

// Fchmodat sets the read-only attribute of a regular file given a mode
// without write permission; any other mode changes nothing.
func (b *fatBuild) Fchmodat(dirfd int, path string, mode uint32, flags int) error {
	if mode&0o222 != 0 {
		return nil
	}
	fd := dirfd
	if path != "" || flags&abi.AT_EMPTY_PATH == 0 {
		var err error
		if fd, err = b.Openat(dirfd, path, abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0); err != nil {
			return err
		}
		defer b.Close(fd)
	}
	var st abi.Stat
	if err := b.Fstat(fd, &st); err != nil || st.Mode&abi.S_IFMT != abi.S_IFREG {
		return err
	}
	attr, err := b.FatGetAttributes(fd)
	if err != nil {
		return err
	}
	return b.FatSetAttributes(fd, attr|fat.AttrReadOnly)
}

// Lsetxattr and Fsetxattr drop the attribute: FAT has none.
func (b *fatBuild) Lsetxattr(path, name string, value []byte, flags int) error { return nil }
func (b *fatBuild) Fsetxattr(fd int, name string, value []byte, flags int) error {
	return nil
}

// Utimensat sets the times, clamped to the epoch when there is one.
func (b *fatBuild) Utimensat(dirfd int, path string, times *[2]abi.Timespec, flags int) error {
	if b.epoch != nil && times != nil {
		t := times[1]
		if t.Sec >= *b.epoch {
			t = abi.Timespec{Sec: *b.epoch}
		}
		times = &[2]abi.Timespec{t, t}
	}
	return b.Kernel.Utimensat(dirfd, path, times, flags)
}

// Linkat copies the file at oldpath to newpath (EEXIST when newpath is
// taken, as link(2)): its data, its DOS attributes and its times.
func (b *fatBuild) Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	in, err := b.Openat(olddirfd, oldpath, abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer b.Close(in)
	var st abi.Stat
	if err := b.Fstat(in, &st); err != nil {
		return err
	}
	if st.Mode&abi.S_IFMT != abi.S_IFREG {
		return abi.Errorf(abi.EPERM, "a hard link to a directory")
	}
	out, err := b.Openat(newdirfd, newpath, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	err = b.copyFile(in, out, &st)
	if cerr := b.Close(out); err == nil {
		err = cerr
	}
	if err != nil {
		// Not left half made under the link's name.
		b.Unlinkat(newdirfd, newpath, 0)
		return fmt.Errorf("copy of a hard link: %w", err)
	}
	return nil
}

// copyFile copies the data, DOS attributes and times of the open file in
// (of stat st) to the new file out.
func (b *fatBuild) copyFile(in, out int, st *abi.Stat) error {
	if b.buf == nil {
		b.buf = make([]byte, 1<<20)
	}
	for off := int64(0); off < st.Size; {
		n, err := b.Pread(in, b.buf, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return abi.Errorf(abi.EIO, "the file ended at %d of %d bytes", off, st.Size)
		}
		for p := b.buf[:n]; len(p) > 0; {
			w, err := b.Pwrite(out, p, off)
			if err != nil {
				return err
			}
			if w <= 0 {
				return errors.New("pwrite wrote nothing")
			}
			p, off = p[w:], off+int64(w)
		}
	}
	attr, err := b.FatGetAttributes(in)
	if err == nil {
		err = b.FatSetAttributes(out, attr)
	}
	if err != nil {
		return err
	}
	return b.Futimens(out, &[2]abi.Timespec{st.Atim, st.Mtim})
}
