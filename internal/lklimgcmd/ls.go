package lklimgcmd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// lsFlags are ls's own options.
type lsFlags struct {
	long, all, recursive bool
}

func lsCommand() subcommand {
	var f lsFlags
	return subcommand{
		name: "ls", usage: "list directories, as LC_ALL=C ls [-l --time-style=long-iso -n] [-a] [-R]",
		args: "IMAGE [PATH...]", minArgs: 0, maxArgs: -1,
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "l", Destination: &f.long, Usage: "long listing (numeric owners, long-iso times)"},
			&cli.BoolFlag{Name: "a", Destination: &f.all, Usage: "do not hide names starting with ."},
			&cli.BoolFlag{Name: "R", Destination: &f.recursive, Usage: "list subdirectories recursively"},
		},
		body: func(s *session, args []string) { ls(s, &f, args) },
	}
}

// lsEntry is one name to show, with its status (from statx, not following
// a symlink, as ls -l does) and, for a symlink, its target.
type lsEntry struct {
	name   string // as shown
	path   string // inside the image
	stx    abi.Statx
	target string
}

// ls lists as GNU ls does: the PATHs that are not directories first, in
// one group, then each directory's entries, sorted by name in the C
// locale's byte order, with a "PATH:" header when there is more than one
// thing to show. One difference stays: the ".." of the image's root is
// the root itself, where on a mount it is the host's directory above.
// The ACL/SELinux mark after the mode (ls's "+" and ".") is not shown.
func ls(s *session, f *lsFlags, args []string) {
	if len(args) == 0 {
		args = []string{"."}
	}
	var files, dirs []lsEntry
	for _, a := range args {
		e := lsEntry{name: a, path: a}
		// Without -l, ls follows a symlink named on the command line
		// to list the directory it points to; it shows the symlink
		// itself when that is not a directory, or is dangling or a
		// loop (ENOENT, ELOOP), as ls.c's gobble_file does. With -l it
		// always shows the symlink itself.
		var err error = abi.ENOENT
		if !f.long {
			err = s.statx(a, 0, &e.stx)
		}
		needLstat := f.long || errors.Is(err, abi.ENOENT) || errors.Is(err, abi.ELOOP) ||
			(err == nil && e.stx.Mode&abi.S_IFMT != abi.S_IFDIR)
		if needLstat {
			err = s.statx(a, abi.AT_SYMLINK_NOFOLLOW, &e.stx)
		}
		if err != nil {
			s.warn(2, "cannot access '%s': %s", a, strerror(err))
			continue
		}
		if e.stx.Mode&abi.S_IFMT == abi.S_IFDIR {
			dirs = append(dirs, e)
			continue
		}
		s.readlink(&e)
		files = append(files, e)
	}
	sortEntries(files)
	sortEntries(dirs)
	if len(files) > 0 {
		s.lsPrint(f, files, false)
	}
	header := f.recursive || len(args) > 1
	for i, d := range dirs {
		if i > 0 || len(files) > 0 {
			s.out.WriteString("\n")
		}
		s.lsDir(f, d.path, header)
	}
}

func sortEntries(es []lsEntry) {
	slices.SortFunc(es, func(a, b lsEntry) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
}

// statx is lstat (flags AT_SYMLINK_NOFOLLOW) or stat of a path inside the
// image.
func (s *session) statx(p string, flags int, stx *abi.Statx) error {
	return s.k.Statx(abi.AT_FDCWD, s.kpath(p), flags, abi.STATX_BASIC_STATS|abi.STATX_BTIME, stx)
}

// readlink fills e.target when e is a symlink. A target that cannot be
// read is left empty, as ls shows it.
func (s *session) readlink(e *lsEntry) {
	if e.stx.Mode&abi.S_IFMT != abi.S_IFLNK {
		return
	}
	t, err := s.readlinkPath(e.path)
	if err != nil {
		s.warn(1, "cannot read symbolic link '%s': %s", e.name, strerror(err))
		return
	}
	e.target = t
}

// readlinkPath returns a symlink's target. A symlink's size bounds it:
// Linux limits targets to a page (PATH_MAX), so the buffer is that.
func (s *session) readlinkPath(p string) (string, error) {
	buf := make([]byte, 4096)
	n, err := s.k.Readlinkat(abi.AT_FDCWD, s.kpath(p), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// readDir returns a directory's names as getdents64 gives them, "." and
// ".." included.
func (s *session) readDir(p string) ([]string, error) {
	fd, err := s.k.Openat(abi.AT_FDCWD, s.kpath(p), abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer s.k.Close(fd)
	buf := make([]byte, 32<<10)
	var names []string
	var ds []abi.Dirent
	for {
		n, err := s.k.Getdents64(fd, buf)
		if err != nil {
			return names, err
		}
		if n == 0 {
			return names, nil
		}
		ds = abi.ParseDirents(buf[:n], ds[:0])
		for _, d := range ds {
			names = append(names, d.Name)
		}
	}
}

// lsDir lists one directory, then (with -R) its subdirectories.
func (s *session) lsDir(f *lsFlags, dir string, header bool) {
	names, err := s.readDir(dir)
	if header {
		fmt.Fprintf(s.out, "%s:\n", dir)
	}
	if err != nil {
		s.warn(1, "cannot open directory '%s': %s", dir, strerror(err))
		if names == nil {
			return
		}
	}
	var es []lsEntry
	for _, name := range names {
		if !f.all && name[0] == '.' {
			continue
		}
		e := lsEntry{name: name, path: attach(dir, name)}
		if err := s.statx(e.path, abi.AT_SYMLINK_NOFOLLOW, &e.stx); err != nil {
			s.warn(1, "cannot access '%s': %s", e.path, strerror(err))
			continue
		}
		if f.long {
			s.readlink(&e)
		}
		es = append(es, e)
	}
	sortEntries(es)
	s.lsPrint(f, es, true)
	if !f.recursive {
		return
	}
	for _, e := range es {
		if e.stx.Mode&abi.S_IFMT != abi.S_IFDIR || e.name == "." || e.name == ".." {
			continue
		}
		s.out.WriteString("\n")
		s.lsDir(f, e.path, true)
	}
}

// attach joins a directory and a name as ls -R shows it: "./d" in ".",
// no doubled "/" after "/".
func attach(dir, name string) string {
	if dir[len(dir)-1] == '/' {
		return dir + name
	}
	return dir + "/" + name
}

// lsPrint prints entries one a line, or in ls -l's columns; a directory's
// listing (total) starts with its blocks in KiB.
func (s *session) lsPrint(f *lsFlags, es []lsEntry, total bool) {
	if !f.long {
		for _, e := range es {
			s.out.WriteString(e.name + "\n")
		}
		return
	}
	// The widths of the columns, as ls computes them over the listing: a
	// device's "major, minor" widens the size column.
	var wLinks, wUid, wGid, wSize, wMajor, wMinor int
	var blocks uint64
	for _, e := range es {
		blocks += e.stx.Blocks
		wLinks = max(wLinks, len(strconv.FormatUint(uint64(e.stx.Nlink), 10)))
		wUid = max(wUid, len(strconv.FormatUint(uint64(e.stx.Uid), 10)))
		wGid = max(wGid, len(strconv.FormatUint(uint64(e.stx.Gid), 10)))
		if isDevice(e.stx.Mode) {
			wMajor = max(wMajor, len(strconv.FormatUint(uint64(e.stx.RdevMajor), 10)))
			wMinor = max(wMinor, len(strconv.FormatUint(uint64(e.stx.RdevMinor), 10)))
			wSize = max(wSize, wMajor+2+wMinor)
		} else {
			wSize = max(wSize, len(strconv.FormatUint(e.stx.Size, 10)))
		}
	}
	if total {
		// st_blocks counts 512-byte units; ls shows KiB, rounded up.
		fmt.Fprintf(s.out, "total %d\n", (blocks+1)/2)
	}
	for _, e := range es {
		size := strconv.FormatUint(e.stx.Size, 10)
		if isDevice(e.stx.Mode) {
			size = fmt.Sprintf("%*d, %*d", wMajor+max(0, wSize-(wMajor+2+wMinor)), e.stx.RdevMajor, wMinor, e.stx.RdevMinor)
		}
		mtime := time.Unix(e.stx.Mtime.Sec, int64(e.stx.Mtime.Nsec)).UTC()
		fmt.Fprintf(s.out, "%s %*d %*d %*d %*s %s %s", modeString(uint32(e.stx.Mode)), wLinks, e.stx.Nlink,
			wUid, e.stx.Uid, wGid, e.stx.Gid, wSize, size, mtime.Format("2006-01-02 15:04"), e.name)
		if e.stx.Mode&abi.S_IFMT == abi.S_IFLNK {
			s.out.WriteString(" -> " + e.target)
		}
		s.out.WriteString("\n")
	}
}

func isDevice(mode uint16) bool {
	t := uint32(mode) & abi.S_IFMT
	return t == abi.S_IFCHR || t == abi.S_IFBLK
}

// modeString is the ten characters ls -l and stat show for a mode
// (coreutils' filemodestring): the type, then rwx for each class with
// setuid, setgid and sticky folded into the x places.
func modeString(mode uint32) string {
	b := []byte("?rwxrwxrwx")
	for _, ft := range fileTypes {
		if mode&abi.S_IFMT == ft.ifmt {
			b[0] = ft.letter
		}
	}
	for i := range 9 {
		if mode&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(bit uint32, at int, set, unset byte) {
		if mode&bit == 0 {
			return
		}
		if b[at] == 'x' {
			b[at] = set
		} else {
			b[at] = unset
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// fileTypes are the file types with the letter ls shows for each and the
// name stat's %F gives it (coreutils' filemodestring and file_type).
var fileTypes = []struct {
	ifmt   uint32
	letter byte
	name   string
}{
	{abi.S_IFREG, '-', "regular file"},
	{abi.S_IFDIR, 'd', "directory"},
	{abi.S_IFLNK, 'l', "symbolic link"},
	{abi.S_IFCHR, 'c', "character special file"},
	{abi.S_IFBLK, 'b', "block special file"},
	{abi.S_IFIFO, 'p', "fifo"},
	{abi.S_IFSOCK, 's', "socket"},
}
