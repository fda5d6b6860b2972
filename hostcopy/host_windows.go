package hostcopy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/windows"
)

// The host layer on Windows (golang.org/x/sys/windows). Windows has no
// *at calls: a directory is its full path, and a handle on it held open
// without FILE_SHARE_DELETE, so that nobody can rename or remove it (nor
// put a junction in its place) while From works inside it; each one is
// opened with FILE_FLAG_OPEN_REPARSE_POINT and refused if it is a
// reparse point (a symlink, a junction), so that no path From makes
// leads outside DST. The names put after it are checked first
// (windowsRefused): no "..", drive, stream or device name gets there.
//
// What NTFS cannot hold is reported, never dropped silently: owners,
// Unix modes other than 0644/0444 for a file and 0755 for a directory
// (the read-only attribute carries the write bits of a file), and
// xattrs through Options.Dropped; device nodes, FIFOs and sockets as
// failed entries. To gives host files the modes a Unix user expects:
// 0644 (0755 for .exe, .com, .bat and .cmd), 0444 or 0555 when
// read-only, 0755 for a directory, and no xattrs.

// dirHandle is a host directory From works in. hostFD is an open host
// file or directory.
type (
	dirHandle = *winDir
	hostFD    = windows.Handle
)

type winDir struct {
	h    windows.Handle
	path string // full path, without a trailing separator
}

// noDir and noFD stand for none (a dry run; a symlink's meta).
var noDir dirHandle

const noFD = windows.InvalidHandle

// SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE lets CreateSymbolicLink
// work without SeCreateSymbolicLinkPrivilege where Developer Mode is on
// (Windows 10 1703 and later); x/sys/windows does not name it.
const symbolicLinkFlagAllowUnprivilegedCreate = 0x2

// fileBasicInfo is FILE_BASIC_INFO (winbase.h), for
// SetFileInformationByHandle(FileBasicInfo): a zero time or attribute
// field leaves it as it is.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// fileStandardInfo is FILE_STANDARD_INFO (winbase.h).
type fileStandardInfo struct {
	AllocationSize, EndOfFile int64
	NumberOfLinks             uint32
	DeletePending, Directory  bool
}

func dirFD(d dirHandle) hostFD { return d.h }

// refusedNames returns the names of one directory Windows cannot hold.
func refusedNames(names []string) map[string]error { return windowsRefused(names) }

// winPath is p for the wide-character calls: an absolute path gets the
// \\?\ prefix, which lifts MAX_PATH (and Win32's rewriting of names,
// which windowsRefused has made moot).
func winPath(p string) (*uint16, error) {
	if filepath.IsAbs(p) && !strings.HasPrefix(p, `\\?\`) {
		if strings.HasPrefix(p, `\\`) {
			p = `\\?\UNC\` + p[2:]
		} else {
			p = `\\?\` + p
		}
	}
	return windows.UTF16PtrFromString(p)
}

// createFile is CreateFile on p (winPath) with access, sharing,
// disposition and flags, its error as the kernel's errno.
func createFile(p string, access, share, disposition, flags uint32) (windows.Handle, error) {
	name, err := winPath(p)
	if err != nil {
		return noFD, abi.EINVAL
	}
	h, err := windows.CreateFile(name, access, share, nil, disposition, flags, 0)
	if err != nil {
		return noFD, hostErr(err)
	}
	return h, nil
}

const shareAll = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE

// openTop opens the directory From makes everything under (the user's
// own path: a link to it is followed).
func openTop(path string) (dirHandle, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	h, err := openDir(abs, 0)
	if err != nil {
		return nil, err
	}
	return &winDir{h: h, path: strings.TrimRight(abs, `\`)}, nil
}

// openDir opens the directory p to work in: to list it, read its
// attributes and write them (its times); where the user may not write
// them, without (its times then fail, reported). It is shared for reads
// and writes, not for deletion: held, it cannot be renamed or removed.
func openDir(p string, flags uint32) (windows.Handle, error) {
	const access = windows.FILE_LIST_DIRECTORY | windows.FILE_READ_ATTRIBUTES
	const share = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE
	flags |= windows.FILE_FLAG_BACKUP_SEMANTICS
	h, err := createFile(p, access|windows.FILE_WRITE_ATTRIBUTES, share, windows.OPEN_EXISTING, flags)
	if errors.Is(err, abi.EACCES) {
		h, err = createFile(p, access, share, windows.OPEN_EXISTING, flags)
	}
	return h, err
}

func closeDir(d dirHandle) { windows.CloseHandle(d.h) }
func closeFD(fd hostFD)    { windows.CloseHandle(fd) }

func (d *winDir) child(name string) string { return d.path + `\` + name }

// attrsAt returns the attributes of name in d, not following a reparse
// point.
func attrsAt(d dirHandle, name string) (uint32, error) {
	p, err := winPath(d.child(name))
	if err != nil {
		return 0, abi.EINVAL
	}
	a, err := windows.GetFileAttributes(p)
	return a, hostErr(err)
}

// statAt reports whether name in d is a directory (a directory symlink
// or junction is not); its error is ENOENT when there is nothing.
func statAt(d dirHandle, name string) (bool, error) {
	a, err := attrsAt(d, name)
	return err == nil && a&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && a&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0, err
}

func mkdirAt(d dirHandle, name string) error {
	p, err := winPath(d.child(name))
	if err != nil {
		return abi.EINVAL
	}
	return hostErr(windows.CreateDirectory(p, nil))
}

// openDirAt opens the directory name in d, refusing a reparse point (a
// symlink or junction) there, and holds it against renames.
func openDirAt(d dirHandle, name string) (dirHandle, error) {
	p := d.child(name)
	h, err := openDir(p, windows.FILE_FLAG_OPEN_REPARSE_POINT)
	if err != nil {
		return nil, err
	}
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		windows.CloseHandle(h)
		return nil, hostErr(err)
	}
	switch {
	case fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		windows.CloseHandle(h)
		return nil, abi.ELOOP
	case fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0:
		windows.CloseHandle(h)
		return nil, abi.ENOTDIR
	}
	return &winDir{h: h, path: p}, nil
}

// unlinkAt removes the non-directory name in d: a file, or a symlink
// (a directory symlink too), by a handle on it marked for deletion
// (FileDispositionInfo). The read-only attribute, which forbids it, is
// cleared first; the file's other names, if any, get it back (attributes
// belong to the file, not to a name).
func unlinkAt(d dirHandle, name string) error {
	h, err := createFile(d.child(name), windows.DELETE|windows.FILE_READ_ATTRIBUTES|windows.FILE_WRITE_ATTRIBUTES, shareAll,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return hostErr(err)
	}
	readOnly := fi.FileAttributes&windows.FILE_ATTRIBUTE_READONLY != 0
	if readOnly {
		if err := setAttributes(h, fi.FileAttributes&^windows.FILE_ATTRIBUTE_READONLY); err != nil {
			return err
		}
	}
	deleteFile := uint32(1) // FILE_DISPOSITION_INFO's BOOLEAN, padded
	err = windows.SetFileInformationByHandle(h, windows.FileDispositionInfo, (*byte)(unsafe.Pointer(&deleteFile)), 1)
	if readOnly && (err != nil || fi.NumberOfLinks > 1) {
		setAttributes(h, fi.FileAttributes)
	}
	return hostErr(err)
}

// setAttributes sets a file's attributes (FILE_ATTRIBUTE_NORMAL for
// none: 0 would leave them as they are).
func setAttributes(h windows.Handle, a uint32) error {
	if a == 0 {
		a = windows.FILE_ATTRIBUTE_NORMAL
	}
	info := fileBasicInfo{FileAttributes: a}
	return setBasicInfo(h, &info)
}

// createAt makes the new file name in d (CREATE_NEW: never an existing
// file, nor through a symlink).
func createAt(d dirHandle, name string) (hostFD, error) {
	return createFile(d.child(name), windows.GENERIC_WRITE, windows.FILE_SHARE_READ, windows.CREATE_NEW,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT)
}

func truncateFD(fd hostFD, size int64) error { return hostErr(windows.Ftruncate(fd, size)) }

// pwriteFD writes at off: a synchronous handle takes the offset from the
// OVERLAPPED structure and leaves its own position alone.
func pwriteFD(fd hostFD, p []byte, off int64) (int, error) {
	ov := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	var n uint32
	err := windows.WriteFile(fd, p, &n, &ov)
	return int(n), hostErr(err)
}

// setSparse marks a new file sparse (FSCTL_SET_SPARSE) before its data
// are written, so that the ranges left unwritten, and the size set past
// the last one, stay holes. A filesystem without sparse files (FAT)
// refuses: the file then holds zeros there, the same bytes.
func setSparse(fd hostFD) {
	var n uint32
	windows.DeviceIoControl(fd, windows.FSCTL_SET_SPARSE, nil, 0, nil, 0, &n, nil)
}

// symlinkAt makes the symlink name in d to target, its '/' turned into
// '\'. Windows symlinks have a type: isDir says whether the target is a
// directory inside the image. Without Developer Mode or the privilege
// to make symlinks, Windows refuses (EPERM), and the entry is reported.
func symlinkAt(target string, d dirHandle, name string, isDir func() bool) error {
	p, err := winPath(d.child(name))
	if err != nil {
		return abi.EINVAL
	}
	t, err := windows.UTF16PtrFromString(strings.ReplaceAll(target, "/", `\`))
	if err != nil {
		return abi.EINVAL
	}
	flags := uint32(symbolicLinkFlagAllowUnprivilegedCreate)
	if isDir() {
		flags |= windows.SYMBOLIC_LINK_FLAG_DIRECTORY
	}
	err = windows.CreateSymbolicLink(p, t, flags)
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		// Windows before 10 1703 knows no unprivileged flag.
		err = windows.CreateSymbolicLink(p, t, flags&^symbolicLinkFlagAllowUnprivilegedCreate)
	}
	if errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) {
		return abi.Errorf(abi.EPERM, "Windows makes symlinks only with Developer Mode on or as an administrator")
	}
	if err != nil {
		return hostErr(err)
	}
	// Wine (8 and before) answers CreateSymbolicLink with success and
	// makes nothing: the entry is looked for, so that it is reported.
	if _, err := attrsAt(d, name); err != nil {
		return abi.Errorf(abi.EOPNOTSUPP, "the host said the symlink was made, and it is not there (Wine makes none)")
	}
	return nil
}

// mknodAt fails: Windows has no device nodes, FIFOs or sockets in its
// filesystems.
func mknodAt(e hostEntry, mode uint32, rdev uint64) error {
	kind := map[uint32]string{abi.S_IFCHR: "a character device", abi.S_IFBLK: "a block device",
		abi.S_IFIFO: "a FIFO", abi.S_IFSOCK: "a socket"}[mode&abi.S_IFMT]
	return abi.Errorf(abi.EOPNOTSUPP, "Windows cannot hold %s", kind)
}

// linkBeneath links name in d to first, a path under top made by From:
// each directory on the way is opened as openDirAt does (no reparse
// point) and held until the link is made.
func linkBeneath(top dirHandle, first string, d dirHandle, name string) error {
	dir, base := filepath.Split(first)
	cur := top
	for _, n := range strings.Split(dir, `\`) {
		if n == "" || n == "." {
			continue
		}
		if n == ".." {
			return abi.EXDEV
		}
		next, err := openDirAt(cur, n)
		if err != nil {
			return err
		}
		defer closeDir(next)
		cur = next
	}
	p, err := winPath(d.child(name))
	if err != nil {
		return abi.EINVAL
	}
	old, err := winPath(cur.child(base))
	if err != nil {
		return abi.EINVAL
	}
	return hostErr(windows.CreateHardLink(p, old, 0))
}

// chown cannot be done: NTFS's owners are SIDs, not Unix ids.
func (e hostEntry) chown(uid, gid int) error {
	return &errNotHeld{"owner"}
}

// chmod sets the read-only attribute of a file from its write bits (as
// Go's os.Chmod does), and says what else of mode NTFS cannot hold.
func (e hostEntry) chmod(mode uint32) error {
	want := uint32(0o755)
	if e.mode&abi.S_IFMT == abi.S_IFREG {
		var fi windows.ByHandleFileInformation
		if err := windows.GetFileInformationByHandle(e.fd, &fi); err != nil {
			return hostErr(err)
		}
		a := fi.FileAttributes &^ windows.FILE_ATTRIBUTE_READONLY
		want = 0o644
		if mode&0o222 == 0 {
			a |= windows.FILE_ATTRIBUTE_READONLY
			want = 0o444
		}
		if err := setAttributes(e.fd, a); err != nil {
			return err
		}
	}
	if mode != want {
		return &errNotHeld{"mode " + octal(mode)}
	}
	return nil
}

// octal is mode as ls -l's numbers: four octal digits.
func octal(mode uint32) string {
	b := []byte("0000")
	for i := 3; i >= 0; i-- {
		b[i] = byte('0' + mode&7)
		mode >>= 3
	}
	return string(b)
}

// setxattr cannot be done: NTFS's extended attributes are not Linux's.
func (e hostEntry) setxattr(name string, value []byte) error {
	return &errNotHeld{"xattr " + name}
}

// setTimes sets the entry's access and modification times (FILETIME: 100
// ns units since 1601; the nanoseconds below are lost). A symlink is
// opened itself, not followed.
func (e hostEntry) setTimes(atime, mtime abi.Timespec) error {
	h := e.fd
	if h == noFD {
		var err error
		h, err = createFile(e.dir.child(e.name), windows.FILE_WRITE_ATTRIBUTES, shareAll, windows.OPEN_EXISTING,
			windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT)
		if err != nil {
			return err
		}
		defer windows.CloseHandle(h)
	}
	info := fileBasicInfo{LastAccessTime: filetime(atime), LastWriteTime: filetime(mtime)}
	return setBasicInfo(h, &info)
}

func setBasicInfo(h windows.Handle, info *fileBasicInfo) error {
	return hostErr(windows.SetFileInformationByHandle(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(info)), uint32(unsafe.Sizeof(*info))))
}

// filetime is t as a FILETIME's 100 ns count; a time before 1601 (which
// FILETIME cannot hold) is its earliest, 1 (0 would mean "unchanged"),
// one past its end its last.
func filetime(t abi.Timespec) int64 {
	const limit = (1<<63 - 1 - filetimeEpoch) / 10_000_000 // seconds FILETIME holds after 1970
	if t.Sec >= limit {
		return 1<<63 - 1
	}
	return max(filetimeEpoch+t.Sec*1e7+t.Nsec/100, 1)
}

// filetimeEpoch is 1970-01-01 in FILETIME units.
const filetimeEpoch = 116444736000000000

// fromFiletime is the Unix time of a FILETIME, counted in its 100 ns
// units (Filetime.Nanoseconds overflows before 1678).
func fromFiletime(ft windows.Filetime) abi.Timespec {
	t := int64(ft.HighDateTime)<<32 | int64(ft.LowDateTime) - filetimeEpoch
	sec := floorDiv(t, 1e7)
	return abi.Timespec{Sec: sec, Nsec: (t - sec*1e7) * 100}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// The host side of To.

// execExts are the extensions Windows runs, which To gives 0755.
var execExts = map[string]bool{".exe": true, ".com": true, ".bat": true, ".cmd": true}

// lstat describes the host entry path, a symlink or junction not
// followed: its type from os.Lstat, the rest from
// GetFileInformationByHandle (links, file index, times). Modes are To's
// defaults (see the top of this file); owners are 0. Its error is the
// host's own, as the unixes' lstat; hostErr gives it the kernel's errno.
func lstat(path string) (hostStat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return hostStat{}, err
	}
	p, err := winPath(path)
	if err != nil {
		return hostStat{}, err
	}
	h, err := windows.CreateFile(p, windows.FILE_READ_ATTRIBUTES, shareAll, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return hostStat{}, err
	}
	defer windows.CloseHandle(h)
	var d windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &d); err != nil {
		return hostStat{}, err
	}
	st := hostStat{
		nlink: uint64(d.NumberOfLinks),
		id:    hostID{uint64(d.VolumeSerialNumber), uint64(d.FileIndexHigh)<<32 | uint64(d.FileIndexLow)},
		atime: fromFiletime(d.LastAccessTime),
		mtime: fromFiletime(d.LastWriteTime),
	}
	readOnly := d.FileAttributes&windows.FILE_ATTRIBUTE_READONLY != 0
	reparse := d.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
	switch {
	case fi.Mode()&os.ModeSymlink != 0 || reparse && fi.Mode()&os.ModeIrregular != 0:
		// A symlink, or a junction (which Go calls irregular): copied
		// as a symlink, never followed; os.Readlink reads both.
		st.mode = abi.S_IFLNK | 0o777
	case fi.Mode()&os.ModeSocket != 0:
		st.mode = abi.S_IFSOCK | 0o755 // an AF_UNIX socket file
	case fi.IsDir():
		st.mode = abi.S_IFDIR | 0o755
	default:
		st.mode = abi.S_IFREG | 0o644
		if execExts[strings.ToLower(filepath.Ext(path))] {
			st.mode |= 0o111
		}
		if readOnly {
			st.mode &^= 0o222
		}
		st.size = int64(d.FileSizeHigh)<<32 | int64(d.FileSizeLow)
		// The space allocated, as st_blocks: a file with less than its
		// size (sparse, or compressed) has its ranges asked
		// (FSCTL_QUERY_ALLOCATED_RANGES).
		var std fileStandardInfo
		if err := windows.GetFileInformationByHandleEx(h, windows.FileStandardInfo, (*byte)(unsafe.Pointer(&std)), uint32(unsafe.Sizeof(std))); err != nil {
			return hostStat{}, err
		}
		st.blocks = (std.AllocationSize + 511) / 512
	}
	return st, nil
}

// readlink returns a symlink's (or junction's) target, its '\' turned into
// '/'.
func readlink(path string) (string, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return "", unwrapPath(err)
	}
	return strings.ReplaceAll(target, `\`, "/"), nil
}

// listXattrs has none to give: NTFS's extended attributes are not
// Linux's.
func listXattrs(path string, buf []byte) (int, error) { return 0, abi.EOPNOTSUPP }

func getXattr(path, name string, buf []byte) (int, error) { return 0, abi.EOPNOTSUPP }

// srcFile is a host file To reads.
type srcFile struct{ h windows.Handle }

// openSource opens the host file path for reading, not following a
// symlink put in its place.
func openSource(path string) (srcFile, error) {
	h, err := createFile(path, windows.GENERIC_READ, shareAll, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_SEQUENTIAL_SCAN)
	return srcFile{h}, err
}

func (f srcFile) close() { windows.CloseHandle(f.h) }

// pread reads at off (the offset in the OVERLAPPED structure); the end
// of the file is 0 bytes, no error.
func (f srcFile) pread(p []byte, off int64) (int, error) {
	ov := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	var n uint32
	err := windows.ReadFile(f.h, p, &n, &ov)
	if errors.Is(err, windows.ERROR_HANDLE_EOF) {
		return 0, nil
	}
	return int(n), hostErr(err)
}

// allocatedRange is FILE_ALLOCATED_RANGE_BUFFER (winioctl.h).
type allocatedRange struct{ FileOffset, Length int64 }

// regions calls data with each allocated range of the file, of size
// bytes, as FSCTL_QUERY_ALLOCATED_RANGES gives them (a batch at a time:
// ERROR_MORE_DATA asks for the next); a filesystem without it is all
// data.
func (f srcFile) regions(size int64, data func(start, end int64) error) error {
	var out [64]allocatedRange
	for off := int64(0); off < size; {
		in := allocatedRange{FileOffset: off, Length: size - off}
		var n uint32
		err := windows.DeviceIoControl(f.h, windows.FSCTL_QUERY_ALLOCATED_RANGES,
			(*byte)(unsafe.Pointer(&in)), uint32(unsafe.Sizeof(in)),
			(*byte)(unsafe.Pointer(&out[0])), uint32(unsafe.Sizeof(out)), &n, nil)
		more := errors.Is(err, windows.ERROR_MORE_DATA)
		if err != nil && !more {
			return data(off, size)
		}
		got := out[:n/uint32(unsafe.Sizeof(out[0]))]
		if len(got) == 0 {
			return nil // a hole to the end
		}
		for _, r := range got {
			start, end := max(r.FileOffset, off), min(r.FileOffset+r.Length, size)
			if start >= end {
				continue
			}
			if err := data(start, end); err != nil {
				return err
			}
			off = end
		}
		if !more {
			return nil
		}
	}
	return nil
}

// winErrnos maps the Windows errors the host calls return to the kernel
// ABI's errnos, so that errors.Is and the messages read as on Linux.
var winErrnos = map[windows.Errno]abi.Errno{
	windows.ERROR_FILE_NOT_FOUND: abi.ENOENT, windows.ERROR_PATH_NOT_FOUND: abi.ENOENT,
	windows.ERROR_ACCESS_DENIED: abi.EACCES, windows.ERROR_SHARING_VIOLATION: abi.EBUSY,
	windows.ERROR_FILE_EXISTS: abi.EEXIST, windows.ERROR_ALREADY_EXISTS: abi.EEXIST,
	windows.ERROR_DISK_FULL: abi.ENOSPC, windows.ERROR_HANDLE_DISK_FULL: abi.ENOSPC,
	windows.ERROR_PRIVILEGE_NOT_HELD: abi.EPERM, windows.ERROR_INVALID_NAME: abi.EINVAL,
	windows.ERROR_INVALID_PARAMETER: abi.EINVAL, windows.ERROR_DIRECTORY: abi.ENOTDIR,
	windows.ERROR_DIR_NOT_EMPTY: abi.ENOTEMPTY, windows.ERROR_NOT_SAME_DEVICE: abi.EXDEV,
	windows.ERROR_FILENAME_EXCED_RANGE: abi.ENAMETOOLONG, windows.ERROR_NOT_SUPPORTED: abi.EOPNOTSUPP,
	windows.ERROR_INVALID_FUNCTION: abi.EOPNOTSUPP, windows.ERROR_TOO_MANY_LINKS: abi.EMLINK,
	windows.ERROR_STOPPED_ON_SYMLINK: abi.ELOOP, windows.ERROR_CANT_RESOLVE_FILENAME: abi.ELOOP,
	windows.ERROR_WRITE_PROTECT: abi.EROFS, windows.ERROR_NOT_READY: abi.EIO, windows.ERROR_CRC: abi.EIO,
}

// hostErr turns a Windows error into the kernel's errno where there is
// one; another stays the host's (its text is Windows').
func hostErr(err error) error {
	var e windows.Errno
	if errors.As(err, &e) {
		if a, ok := winErrnos[e]; ok {
			return a
		}
	}
	return err
}
