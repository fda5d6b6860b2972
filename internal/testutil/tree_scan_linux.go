package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// ScanDir reads the tree under root on the host: lstat for each entry,
// its xattrs (llistxattr/lgetxattr, which include POSIX ACLs as
// system.posix_acl_*), a SHA-256 of each regular file and its data
// regions from SEEK_DATA/SEEK_HOLE. Mount points below root are not
// crossed specially: it is meant for a test's own directories and mounts.
func ScanDir(root string) (Tree, error) {
	return ScanDirExcept(root)
}

// ScanDirExcept is ScanDir leaving out the paths except (relative to root,
// as Entry.Path) and everything under them: an encrypted directory, say,
// whose files cannot be opened without the key.
func ScanDirExcept(root string, except ...string) (Tree, error) {
	t := Tree{}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: root, Err: err}
	}
	err := scanDir(t, root, ".", except, st.Dev)
	return t, err
}

func scanDir(t Tree, root, rel string, except []string, rootDev uint64) error {
	if slices.Contains(except, rel) {
		return nil
	}
	full := filepath.Join(root, rel)
	e, err := scanHostEntry(full, rel, rootDev)
	if err != nil {
		return err
	}
	t[rel] = e
	if e.Type != TypeDir {
		return nil
	}
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := scanDir(t, root, path.Join(rel, n), except, rootDev); err != nil {
			return err
		}
	}
	return nil
}

// scanHostEntry describes one file. Its Ino is st_ino, with st_dev mixed
// in when that is not the root's (rootDev): inode numbers of a btrfs
// subvolume, which has a device of its own, count from 256 again.
func scanHostEntry(full, rel string, rootDev uint64) (*Entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: full, Err: err}
	}
	e := &Entry{
		Path:  rel,
		Mode:  st.Mode & 0o7777,
		Uid:   st.Uid,
		Gid:   st.Gid,
		Mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		Ino:   st.Ino,
	}
	if st.Dev != rootDev {
		e.Ino ^= st.Dev << 40
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type = TypeFile
		e.Size = st.Size
		sum, data, err := hashFile(full, st.Size)
		if err != nil {
			return nil, err
		}
		e.SHA256, e.Data = sum, data
	case unix.S_IFDIR:
		e.Type = TypeDir
	case unix.S_IFLNK:
		e.Type = TypeSymlink
		target, err := os.Readlink(full)
		if err != nil {
			return nil, err
		}
		e.LinkTarget = target
	case unix.S_IFCHR:
		e.Type = TypeChar
		e.RdevMajor, e.RdevMinor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFBLK:
		e.Type = TypeBlock
		e.RdevMajor, e.RdevMinor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFIFO:
		e.Type = TypeFifo
	case unix.S_IFSOCK:
		e.Type = TypeSocket
	default:
		return nil, fmt.Errorf("%s: unknown file type %#o", full, st.Mode)
	}
	x, err := HostXattrs(full)
	if err != nil {
		return nil, err
	}
	e.Xattrs = x
	return e, nil
}

// hashFile returns the SHA-256 of a file and its data regions.
func hashFile(full string, size int64) (string, []Range, error) {
	f, err := os.Open(full)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var data []Range
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			data = []Range{{0, size}} // no SEEK_DATA: all data
			break
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if errors.Is(err, unix.ENOENT) {
			// Linux's ext4 fails SEEK_HOLE so on an inline data file
			// whose i_size passes its data (mkfs.ext4 -d makes them):
			// the regions are unknown.
			data = nil
			break
		}
		if err != nil {
			return "", nil, &os.PathError{Op: "lseek", Path: full, Err: err}
		}
		data = append(data, Range{start, end})
		off = end
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", nil, err
	}
	if n != size {
		return "", nil, fmt.Errorf("%s: read %d bytes of %d", full, n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), data, nil
}

// HostXattrs returns every xattr of a host file, not following a symlink.
func HostXattrs(full string) (map[string][]byte, error) {
	sz, err := unix.Llistxattr(full, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: full, Err: err}
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(full, buf)
	if err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: full, Err: err}
	}
	x := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimSuffix(string(buf[:sz]), "\x00"), "\x00") {
		vsz, err := unix.Lgetxattr(full, name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + name, Path: full, Err: err}
		}
		v := make([]byte, vsz)
		vsz, err = unix.Lgetxattr(full, name, v)
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + name, Path: full, Err: err}
		}
		x[name] = v[:vsz]
	}
	return x, nil
}
