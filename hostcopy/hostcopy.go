// Package hostcopy copies trees between the host and a filesystem mounted
// in the library kernel, as cp -a would between two directories: To copies
// host files into the kernel (cptofs), From copies kernel files out to the
// host (cpfromfs).
//
// Both keep what cp -a keeps: every entry type (regular files, directories,
// symlinks, character and block devices, FIFOs, sockets), permission bits
// with setuid, setgid and sticky, owners (when Options.Owners: as root, or
// asked for), access and modification times with nanoseconds, every
// extended attribute (security.selinux, security.capability, trusted.*,
// POSIX ACLs as system.posix_acl_*), hard links (also between separate
// sources: a file already copied under another name is linked, not copied
// again) and holes: the source's data regions are found with
// SEEK_DATA/SEEK_HOLE and only they are written; the size is set with
// ftruncate, so a hole stays a hole.
//
// A directory is merged into an existing one; an existing non-directory is
// replaced (unlinked, then created anew, so that other hard links to it
// keep their content); a directory over a non-directory, or the reverse, is
// an error on that entry, as cp's "cannot overwrite". A directory's mode and
// times are set after its contents are copied, so they end as the source's.
//
// The kernel side is reached only through syscalls (Kernel), by absolute
// kernel paths. The host side of From never writes outside its
// destination: every host file is made relative to a directory descriptor
// opened with O_NOFOLLOW, one name at a time, and names from the image that
// are not plain names ("", ".", "..", with '/' or NUL) are refused; a
// symlink copied out of the image is never followed, however it points.
//
// Failures on one entry are reported (Options.Report) and the copy goes on;
// To and From then return an error wrapping ErrIncomplete. A full
// filesystem (ENOSPC) and a kernel without a write path (ENOSYS) stop the
// copy at once: every further entry would fail the same way.
package hostcopy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Kernel is the part of the kernel's syscall API the copies use, with
// Linux's contracts. *kernel.Kernel implements it.
type Kernel interface {
	// The reads of archive.Syscalls and the writes tar import makes
	// (Pwrite, Ftruncate, Mkdirat, Mknodat, Symlinkat, Linkat, Unlinkat,
	// Fchmodat, Fchownat, Utimensat, Lsetxattr).
	archive.ImportSyscalls
	Pread(fd int, p []byte, off int64) (int, error)
	// Lremovexattr drops the ACLs a copy inherited and its source lacks.
	Lremovexattr(path, name string) error
}

// Options tunes To and From.
type Options struct {
	// Owners keeps each entry's owner and group (cp -a as root). Without
	// it, To leaves new files to the kernel's owner (Config.Uid/Gid) and
	// From to the host user running it.
	Owners bool
	// Uid and Gid, when set, give every copied entry that owner or group,
	// with or without Owners.
	Uid, Gid *uint32
	// SELinux, when set, is the security.selinux context every copied
	// entry gets, in place of the source's (a NUL is appended, as the
	// kernel stores contexts).
	SELinux string
	// NoXattrs leaves extended attributes out: To neither reads the
	// sources' nor sets any (a filesystem without them: FAT).
	NoXattrs bool
	// DryRun changes nothing: the copy only walks the sources and tells
	// OnEntry what it would copy where.
	DryRun bool
	// Report, when set, is told of every entry that failed (a
	// *PathError); the copy goes on.
	Report func(err error)
	// Dropped, when set, is told of each entry whose metadata the host
	// cannot hold (Windows: owners, Unix modes, xattrs), with what was
	// left: "mode 0640", "owner", "xattrs user.a, user.b". The entry is
	// copied and the copy goes on; it is not a failure (cp -a as a user
	// leaves owners too), but never silent either.
	Dropped func(src string, what []string)
	// OnEntry, when set, is called with each entry as it is copied (or,
	// with DryRun, would be): its source and destination paths.
	OnEntry func(src, dst string)
	// OnBytes, when set, is told of file data copied, as it is.
	OnBytes func(n int64)
}

// ErrIncomplete is returned (wrapped, with a count) when some entries
// failed: each was reported, the others were copied.
var ErrIncomplete = errors.New("some entries could not be copied")

// PathError is a failure on one entry: its source path, the operation and
// the error, which keeps its errno for errors.Is. It is the archive's,
// which reports failed entries the same way.
type PathError = archive.PathError

// FatalError stops a copy: the filesystem is full (ENOSPC) or cannot be
// written at all (ENOSYS, EROFS). Path is the source entry being copied.
type FatalError struct {
	Path string
	Err  error
}

func (e *FatalError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// fatal reports whether err stops the whole copy rather than one entry.
func fatal(err error) bool {
	return errors.Is(err, abi.ENOSPC) || errors.Is(err, abi.ENOSYS) || errors.Is(err, abi.EROFS)
}

// setxattrError is the error of a setxattr for the report: its ENOSPC
// is the entry's alone, not fatal. ext4 says ENOSPC for a value that fits
// neither in the inode nor in its one xattr block (no ea_inode), a disk
// with room to spare; a full disk is found at the next allocation. cp -a
// reports the file and goes on, and so does archive.Import.
func setxattrError(err error) error {
	if errors.Is(err, abi.ENOSPC) {
		return errors.New("the value fits neither in the inode nor in one block (" + err.Error() + ")")
	}
	return err
}

// copier is what To and From share: options, counters, buffers.
type copier struct {
	opts   Options
	failed int
	stop   *FatalError // set once a fatal error stops the copy
	data   []byte      // file data buffer
	xlist  []byte      // xattr name list buffer
	xval   []byte      // xattr value buffer
}

// dataBuffer is the size of the file data buffer: large enough that the
// per-call costs vanish, small beside the kernel's memory.
const dataBuffer = 1 << 20

func newCopier(opts Options) *copier {
	return &copier{
		opts:  opts,
		data:  make([]byte, dataBuffer),
		xlist: make([]byte, abi.XATTR_LIST_MAX),
		xval:  make([]byte, abi.XATTR_SIZE_MAX),
	}
}

// fail reports a failure on one entry, or records a fatal one.
func (c *copier) fail(src, op string, err error) {
	if fatal(err) {
		if c.stop == nil {
			c.stop = &FatalError{Path: src, Err: err}
		}
		return
	}
	c.failed++
	if c.opts.Report != nil {
		c.opts.Report(&PathError{Path: src, Op: op, Err: err})
	}
}

// dropped tells Options.Dropped what of src the host could not hold.
func (c *copier) dropped(src string, what []string) {
	if c.opts.Dropped != nil {
		c.opts.Dropped(src, what)
	}
}

// errNotHeld is a host call's answer for metadata its host has no room
// for (NTFS: owners, most Unix modes, xattrs): what says which.
type errNotHeld struct{ what string }

func (e *errNotHeld) Error() string { return "this host cannot hold " + e.what }

// stopped reports whether a fatal error stopped the copy.
func (c *copier) stopped() bool { return c.stop != nil }

func (c *copier) entry(src, dst string) {
	if c.opts.OnEntry != nil {
		c.opts.OnEntry(src, dst)
	}
}

func (c *copier) bytes(n int) {
	if c.opts.OnBytes != nil {
		c.opts.OnBytes(int64(n))
	}
}

// result is what To and From return once the walk is over.
func (c *copier) result() error {
	if c.stop != nil {
		return c.stop
	}
	if c.failed > 0 {
		return fmt.Errorf("%w: %d failed", ErrIncomplete, c.failed)
	}
	return nil
}

// owner returns the uid and gid to give an entry whose source owners are
// uid and gid, and whether to change them at all.
func (c *copier) owner(uid, gid uint32) (int, int, bool) {
	u, g := -1, -1
	if c.opts.Owners {
		u, g = int(uid), int(gid)
	}
	if c.opts.Uid != nil {
		u = int(*c.opts.Uid)
	}
	if c.opts.Gid != nil {
		g = int(*c.opts.Gid)
	}
	return u, g, u != -1 || g != -1
}

// selinuxValue is the xattr value of Options.SELinux: the context with
// its NUL.
func (c *copier) selinuxValue() []byte {
	v := []byte(c.opts.SELinux)
	if !strings.HasSuffix(c.opts.SELinux, "\x00") {
		v = append(v, 0)
	}
	return v
}

// xattr is one extended attribute.
type xattr struct {
	name  string
	value []byte
}

// readXattrs lists and reads every xattr with list and get (llistxattr
// and lgetxattr style calls) into c's buffers, sorted by name; the values
// are copies. A filesystem without xattrs (EOPNOTSUPP) has none; one
// removed between the list and the read (ENODATA) is left out.
func (c *copier) readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) ([]xattr, error) {
	n, err := list(c.xlist)
	if errors.Is(err, abi.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []xattr
	for _, name := range strings.Split(string(c.xlist[:n]), "\x00") {
		if name == "" {
			continue
		}
		m, err := get(name, c.xval)
		if errors.Is(err, abi.ENODATA) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, xattr{name, slices.Clone(c.xval[:m])})
	}
	slices.SortFunc(out, func(a, b xattr) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// withSELinux returns xs with security.selinux set to Options.SELinux
// when it is given.
func (c *copier) withSELinux(xs []xattr) []xattr {
	if c.opts.SELinux == "" {
		return xs
	}
	xs = slices.DeleteFunc(xs, func(x xattr) bool { return x.name == "security.selinux" })
	return append(xs, xattr{"security.selinux", c.selinuxValue()})
}

// replace clears the way for the source src at the destination dst
// (shown so in messages): stat says whether something is there (an ENOENT
// error: nothing) and whether it is a directory; unlink removes it. A
// directory in the way of a non-directory, or a non-directory in the way
// of a directory (srcIsDir), is an error, as cp's "cannot overwrite". It
// reports its failures and returns whether the way is clear.
func (c *copier) replace(src, dst string, srcIsDir bool, stat func() (bool, error), unlink func() error) bool {
	isDir, err := stat()
	if errors.Is(err, abi.ENOENT) {
		return true
	}
	if err != nil {
		c.fail(src, "stat destination", err)
		return false
	}
	if isDir {
		c.fail(src, "", &clashError{abi.EISDIR, dst})
		return false
	}
	if srcIsDir {
		c.fail(src, "", &clashError{abi.ENOTDIR, dst})
		return false
	}
	if err := unlink(); err != nil {
		c.fail(src, "unlink destination", err)
		return false
	}
	return true
}

// pwriteFull writes all of p at off with pwrite, which may write less
// than asked (a filesystem filling up does, before it says ENOSPC).
func pwriteFull(pwrite func(p []byte, off int64) (int, error), p []byte, off int64) error {
	for len(p) > 0 {
		n, err := pwrite(p, off)
		if err != nil {
			return err
		}
		if n <= 0 {
			return abi.Errorf(abi.EIO, "pwrite wrote nothing")
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// clashError is a directory in the way of a non-directory, or the
// reverse: cp's "cannot overwrite". It carries EISDIR or ENOTDIR.
type clashError struct {
	errno abi.Errno
	dst   string
}

func (e *clashError) Error() string {
	if e.errno == abi.EISDIR {
		return "cannot overwrite directory " + e.dst + " with a non-directory"
	}
	return "cannot overwrite non-directory " + e.dst + " with a directory"
}
func (e *clashError) Unwrap() error { return e.errno }

// hasMeta reports whether a name holds a shell pattern character.
func hasMeta(name string) bool { return strings.ContainsAny(name, `*?[\`) }

// match returns the names matching pattern (path.Match), sorted; a bad
// pattern is an error.
func match(pattern string, names []string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// plainName reports whether a directory entry's name can be used as one
// path component: not empty, not "." or "..", without '/' or NUL. A
// damaged or crafted image may hold others.
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
