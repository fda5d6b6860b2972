package lklimgcmd

import (
	"fmt"
	"path"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// The write subcommands mount the image read-write, change it only
// through the kernel's syscalls, as the GNU tool of the same name does
// through the host's, and unmount it so that it is left clean. Their
// messages and exit statuses are the GNU tool's (coreutils 9's wording,
// C locale).

// writeCommands returns mkdir, rmdir, rm, mv, ln, chmod, chown, touch and
// setfattr.
func writeCommands() []subcommand {
	var mk mkdirFlags
	var rmf rmFlags
	var lnf lnFlags
	var tf touchFlags
	var sf setfattrFlags
	return []subcommand{
		{name: "mkdir", usage: "make directories, as GNU mkdir", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, write: true, flags: mk.flags(),
			body: func(s *session, args []string) { mkdir(s, &mk, args) }},
		{name: "rmdir", usage: "remove empty directories, as GNU rmdir", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, write: true, body: rmdir},
		{name: "rm", usage: "remove files, as GNU rm", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, write: true, flags: rmf.flags(),
			body: func(s *session, args []string) { rm(s, &rmf, args) }},
		{name: "mv", usage: "rename files or move them into a directory, as GNU mv", args: "IMAGE SRC... DST",
			minArgs: 2, maxArgs: -1, write: true, body: mv},
		{name: "ln", usage: "make a hard or symbolic link, as GNU ln", args: "IMAGE TARGET LINKNAME",
			minArgs: 2, maxArgs: 2, write: true, flags: lnf.flags(),
			body: func(s *session, args []string) { ln(s, &lnf, args) }},
		{name: "chmod", usage: "change modes (octal or symbolic), as GNU chmod", args: "MODE IMAGE PATH...",
			minArgs: 2, maxArgs: -1, write: true, before: 1, body: chmod},
		{name: "chown", usage: "change owners (numeric or the image's names), as GNU chown", args: "OWNER[:GROUP] IMAGE PATH...",
			minArgs: 2, maxArgs: -1, write: true, before: 1, body: chown},
		{name: "touch", usage: "set files' times, creating them if missing, as GNU touch", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, write: true, flags: tf.flags(),
			body: func(s *session, args []string) { touch(s, &tf, args) }},
		{name: "setfattr", usage: "set or remove an extended attribute, as setfattr", args: "IMAGE PATH...",
			minArgs: 1, maxArgs: -1, write: true, flags: sf.flags(),
			body: func(s *session, args []string) { setfattr(s, &sf, args) }},
	}
}

// lstat is the type and mode of p, symlinks not followed; stat follows
// them.
func (s *session) lstat(p string) (uint32, error) {
	var stx abi.Statx
	err := s.k.Statx(abi.AT_FDCWD, s.kpath(p), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_TYPE|abi.STATX_MODE, &stx)
	return uint32(stx.Mode), err
}

func (s *session) stat(p string) (uint32, error) {
	var stx abi.Statx
	err := s.k.Statx(abi.AT_FDCWD, s.kpath(p), 0, abi.STATX_TYPE|abi.STATX_MODE, &stx)
	return uint32(stx.Mode), err
}

func isDir(mode uint32) bool { return mode&abi.S_IFMT == abi.S_IFDIR }

// umask is the kernel's file mode creation mask (022 at boot).
func (s *session) umask() uint32 {
	m := s.k.Umask(0)
	s.k.Umask(m)
	return m
}

type mkdirFlags struct {
	parents bool
	mode    string
}

func (f *mkdirFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "parents", Aliases: []string{"p"}, Destination: &f.parents,
			Usage: "make parent directories as needed; no error if a directory exists"},
		&cli.StringFlag{Name: "mode", Aliases: []string{"m"}, Destination: &f.mode,
			Usage: "set the new directories' `MODE` (as chmod), not a=rwx - umask"},
	}
}

// mkdir makes each PATH, as GNU mkdir: with -p, its missing parents first
// (u+wx whatever the umask, so that the children can be made) and no
// error for a directory that exists; with -m, the mode is set by chmod
// after mkdirat, so the umask does not narrow it.
func mkdir(s *session, f *mkdirFlags, args []string) {
	mode := 0o777 &^ s.umask()
	explicit := f.mode != ""
	if explicit {
		m, ok := parseMode(f.mode, 0o777, true, s.umask())
		if !ok {
			s.warn(exitFail, "invalid mode '%s'", f.mode)
			return
		}
		mode = m
	}
	for _, p := range args {
		if f.parents {
			if !s.mkdirParents(p) {
				continue
			}
		}
		err := s.k.Mkdirat(abi.AT_FDCWD, s.kpath(p), mode&0o777)
		if err != nil && f.parents && abi.ErrnoOf(err) == abi.EEXIST {
			if m, serr := s.stat(p); serr == nil && isDir(m) {
				continue
			}
		}
		if err != nil {
			s.warn(exitFail, "cannot create directory '%s': %s", p, strerror(err))
			continue
		}
		if explicit {
			if err := s.k.Fchmodat(abi.AT_FDCWD, s.kpath(p), mode, 0); err != nil {
				s.warn(exitFail, "cannot set permissions of '%s': %s", p, strerror(err))
			}
		}
	}
}

// mkdirParents makes the missing directories above p.
func (s *session) mkdirParents(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	prefix := ""
	if strings.HasPrefix(p, "/") {
		prefix = "/"
	}
	for i := range len(parts) - 1 {
		if parts[i] == "" || parts[i] == "." {
			continue
		}
		prefix += parts[i]
		err := s.k.Mkdirat(abi.AT_FDCWD, s.kpath(prefix), (0o777&^s.umask())|0o300)
		if err != nil && abi.ErrnoOf(err) == abi.EEXIST {
			if m, serr := s.stat(prefix); serr == nil && isDir(m) {
				err = nil
			} else {
				err = abi.ENOTDIR
			}
		}
		if err != nil {
			s.warn(exitFail, "cannot create directory '%s': %s", prefix, strerror(err))
			return false
		}
		prefix += "/"
	}
	return true
}

// rmdir removes each empty directory PATH.
func rmdir(s *session, args []string) {
	for _, p := range args {
		err := s.lastDot(p, abi.EINVAL, abi.ENOTEMPTY)
		if err == nil {
			err = s.k.Unlinkat(abi.AT_FDCWD, s.kpath(p), abi.AT_REMOVEDIR)
		}
		if abi.ErrnoOf(err) == abi.ENOTDIR && strings.HasSuffix(p, "/") {
			// GNU rmdir's words for "symlink-to-dir/".
			if m, lerr := s.lstat(strings.TrimRight(p, "/")); lerr == nil && m&abi.S_IFMT == abi.S_IFLNK {
				if m, serr := s.stat(p); serr == nil && isDir(m) {
					s.warn(exitFail, "failed to remove '%s': Symbolic link not followed", p)
					continue
				}
			}
		}
		if err != nil {
			s.warn(exitFail, "failed to remove '%s': %s", p, strerror(err))
		}
	}
}

// lastDot is rmdir(2)'s answer for a path whose last component is "." or
// "..", which kpath's lexical cleaning would otherwise turn into another
// directory: Linux's do_rmdir refuses them (LAST_DOT: EINVAL, LAST_DOTDOT:
// ENOTEMPTY) before looking at what they name.
func (s *session) lastDot(p string, dot, dotdot abi.Errno) error {
	trimmed := strings.TrimRight(p, "/")
	if trimmed == "" {
		return nil // the root: the kernel's EBUSY, as for a mount point
	}
	switch path.Base(trimmed) {
	case ".":
		return dot
	case "..":
		return dotdot
	}
	return nil
}

type rmFlags struct{ recursive, force bool }

func (f *rmFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r", "R"}, Destination: &f.recursive,
			Usage: "remove directories and their contents"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Destination: &f.force,
			Usage: "ignore files that do not exist"},
	}
}

// rm removes each PATH, as GNU rm: a directory only with -r (its
// contents first), never "/" (--preserve-root) nor a "." or ".." last
// component; -f silences missing files.
func rm(s *session, f *rmFlags, args []string) {
	for _, p := range args {
		mode, err := s.lstat(p)
		if err != nil {
			if !(f.force && abi.ErrnoOf(err) == abi.ENOENT) {
				s.warn(exitFail, "cannot remove '%s': %s", p, strerror(err))
			}
			continue
		}
		if !isDir(mode) {
			if err := s.k.Unlinkat(abi.AT_FDCWD, s.kpath(p), 0); err != nil {
				s.warn(exitFail, "cannot remove '%s': %s", p, strerror(err))
			}
			continue
		}
		// GNU rm's order: a directory needs -r; then "." and ".."
		// and the root are refused.
		if !f.recursive {
			s.warn(exitFail, "cannot remove '%s': Is a directory", p)
			continue
		}
		trimmed := strings.TrimRight(p, "/")
		if trimmed == "" {
			s.warn(exitFail, "it is dangerous to operate recursively on '%s'", p)
			s.warn(exitFail, "use --no-preserve-root to override this failsafe")
			continue
		}
		if base := path.Base(trimmed); base == "." || base == ".." {
			s.warn(exitFail, "refusing to remove '.' or '..' directory: skipping '%s'", p)
			continue
		}
		s.removeTree(p)
	}
}

// removeTree removes directory p and everything under it; false if
// something could not be removed.
func (s *session) removeTree(p string) bool {
	names, err := s.readDir(p)
	if err != nil {
		s.warn(exitFail, "cannot remove '%s': %s", p, strerror(err))
		return false
	}
	ok := true
	for _, name := range names {
		if name == "." || name == ".." {
			continue
		}
		child := attach(p, name)
		mode, err := s.lstat(child)
		switch {
		case err != nil:
			s.warn(exitFail, "cannot remove '%s': %s", child, strerror(err))
			ok = false
		case isDir(mode):
			ok = s.removeTree(child) && ok
		default:
			if err := s.k.Unlinkat(abi.AT_FDCWD, s.kpath(child), 0); err != nil {
				s.warn(exitFail, "cannot remove '%s': %s", child, strerror(err))
				ok = false
			}
		}
	}
	if !ok {
		return false
	}
	if err := s.k.Unlinkat(abi.AT_FDCWD, s.kpath(p), abi.AT_REMOVEDIR); err != nil {
		s.warn(exitFail, "cannot remove '%s': %s", p, strerror(err))
		return false
	}
	return true
}

// mv renames each SRC to DST, or into DST when it is a directory (the
// only choice with several SRCs).
func mv(s *session, args []string) {
	srcs, dst := args[:len(args)-1], args[len(args)-1]
	dmode, derr := s.stat(dst)
	into := derr == nil && isDir(dmode)
	if !into && len(srcs) > 1 {
		if derr == nil {
			derr = abi.ENOTDIR
		}
		s.warn(exitFail, "target '%s': %s", dst, strerror(derr))
		return
	}
	for _, src := range srcs {
		smode, err := s.lstat(src)
		if err != nil {
			s.warn(exitFail, "cannot stat '%s': %s", src, strerror(err))
			continue
		}
		to := dst
		if into {
			to = attach(dst, path.Base(strings.TrimRight(src, "/")))
		}
		if s.kpath(src) == s.kpath(to) {
			s.warn(exitFail, "'%s' and '%s' are the same file", src, to)
			continue
		}
		// rename(2) would say ENOTDIR or EISDIR; mv says which
		// replacement it refuses (coreutils' copy.c).
		if tmode, err := s.lstat(to); err == nil {
			if isDir(smode) && !isDir(tmode) {
				s.warn(exitFail, "cannot overwrite non-directory '%s' with directory '%s'", to, src)
				continue
			}
			if !isDir(smode) && isDir(tmode) {
				s.warn(exitFail, "cannot overwrite directory '%s' with non-directory", to)
				continue
			}
		}
		if err := s.k.Renameat2(abi.AT_FDCWD, s.kpath(src), abi.AT_FDCWD, s.kpath(to), 0); err != nil {
			if abi.ErrnoOf(err) == abi.EINVAL {
				s.warn(exitFail, "cannot move '%s' to a subdirectory of itself, '%s'", src, to)
			} else {
				s.warn(exitFail, "cannot move '%s' to '%s': %s", src, to, strerror(err))
			}
		}
	}
}

type lnFlags struct{ symbolic, force bool }

func (f *lnFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "symbolic", Aliases: []string{"s"}, Destination: &f.symbolic,
			Usage: "make a symbolic link (TARGET is stored as given)"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Destination: &f.force,
			Usage: "remove an existing LINKNAME first"},
	}
}

// ln makes LINKNAME (or LINKNAME/basename(TARGET) when LINKNAME is a
// directory) a hard link to TARGET, or with -s a symlink holding TARGET.
func ln(s *session, f *lnFlags, args []string) {
	target, name := args[0], args[1]
	if m, err := s.stat(name); err == nil && isDir(m) {
		name = attach(name, path.Base(strings.TrimRight(target, "/")))
	}
	if !f.symbolic {
		m, err := s.lstat(target)
		if err != nil {
			s.warn(exitFail, "failed to access '%s': %s", target, strerror(err))
			return
		}
		if isDir(m) {
			s.warn(exitFail, "%s: hard link not allowed for directory", target)
			return
		}
	}
	link := func() error {
		if f.symbolic {
			return s.k.Symlinkat(target, abi.AT_FDCWD, s.kpath(name))
		}
		return s.k.Linkat(abi.AT_FDCWD, s.kpath(target), abi.AT_FDCWD, s.kpath(name), 0)
	}
	src := lnSource(target, name, f.symbolic)
	_, nerr := s.lstat(name)
	if f.force && nerr == nil && (s.kpath(src) == s.kpath(name) || f.symbolic && s.sameFile(src, name)) {
		// Removing LINKNAME would remove what TARGET names (a second
		// hard link to one file is only replaced, as GNU ln does).
		s.warn(exitFail, "'%s' and '%s' are the same file", target, name)
		return
	}
	err := link()
	if err != nil && f.force && abi.ErrnoOf(err) == abi.EEXIST {
		if m, serr := s.lstat(name); serr == nil && isDir(m) {
			s.warn(exitFail, "%s: cannot overwrite directory", name)
			return
		}
		if err = s.k.Unlinkat(abi.AT_FDCWD, s.kpath(name), 0); err != nil {
			s.warn(exitFail, "cannot remove '%s': %s", name, strerror(err))
			return
		}
		err = link()
	}
	if err != nil {
		s.warn(exitFail, "%s: %s", lnFailure(f.symbolic, abi.ErrnoOf(err), target, name), strerror(err))
	}
}

// lnFailure words ln's failure to make name as coreutils' ln.c (do_link)
// does by errno: the target is named too where the name alone does not
// explain the error (an encrypted directory's ENOKEY, EXDEV, EPERM), and
// alone where a link count is full.
func lnFailure(symbolic bool, errno abi.Errno, target, name string) string {
	switch {
	case symbolic && (errno == abi.ENAMETOOLONG || target == ""):
		return fmt.Sprintf("failed to create symbolic link '%s' -> '%s'", name, target)
	case symbolic:
		return fmt.Sprintf("failed to create symbolic link '%s'", name)
	case errno == abi.EMLINK:
		return fmt.Sprintf("failed to create hard link to '%s'", target)
	case errno == abi.EDQUOT || errno == abi.EEXIST || errno == abi.ENOSPC || errno == abi.EROFS:
		return fmt.Sprintf("failed to create hard link '%s'", name)
	}
	return fmt.Sprintf("failed to create hard link '%s' => '%s'", name, target)
}

// lnSource is the path of the file a new link would name: TARGET itself
// for a hard link, a relative symlink's target from LINKNAME's directory.
func lnSource(target, name string, symbolic bool) string {
	if symbolic && !strings.HasPrefix(target, "/") {
		return path.Join(path.Dir(name), target)
	}
	return target
}

// sameFile says whether a (followed) and b (not followed) are one inode.
func (s *session) sameFile(a, b string) bool {
	var sa, sb abi.Statx
	if s.k.Statx(abi.AT_FDCWD, s.kpath(a), 0, abi.STATX_INO, &sa) != nil ||
		s.k.Statx(abi.AT_FDCWD, s.kpath(b), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_INO, &sb) != nil {
		return false
	}
	return sa.Ino == sb.Ino && sa.DevMajor == sb.DevMajor && sa.DevMinor == sb.DevMinor
}
