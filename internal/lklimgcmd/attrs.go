package lklimgcmd

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// parseMode applies a chmod MODE to old, as GNU's modechange.c: octal
// (the bits as given, a directory's setuid and setgid kept when fewer
// than five digits say nothing of them) or comma-separated symbolic
// clauses [ugoa]*[-+=][rwxXst]* or [-+=][ugo]. A clause without a "who"
// is narrowed by umask. ok is false for a MODE that does not parse.
func parseMode(mode string, old uint32, dir bool, umask uint32) (uint32, bool) {
	old &= 0o7777
	if mode != "" && strings.Trim(mode, "01234567") == "" {
		n, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || n > 0o7777 {
			return 0, false
		}
		m := uint32(n)
		if dir && len(mode) < 5 {
			// coreutils keeps the directory's set-ID bits unless the
			// octal number has five digits or more.
			m = uint32(n) | old&0o6000
		}
		return m, true
	}
	cur := old
	for _, clause := range strings.Split(mode, ",") {
		i := 0
		var who uint32
		for ; i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0; i++ {
			who |= map[byte]uint32{'u': 0o4700, 'g': 0o2070, 'o': 0o1007, 'a': 0o7777}[clause[i]]
		}
		mask := ^uint32(0)
		if who == 0 {
			who, mask = 0o7777, ^umask
		}
		if i == len(clause) {
			return 0, false
		}
		for i < len(clause) {
			op := clause[i]
			if op != '+' && op != '-' && op != '=' {
				return 0, false
			}
			i++
			var perm uint32
			if i < len(clause) && strings.IndexByte("ugo", clause[i]) >= 0 {
				// Copy another class's bits to this one's.
				var bits uint32
				switch clause[i] {
				case 'u':
					bits = (cur & 0o700) >> 6
				case 'g':
					bits = (cur & 0o070) >> 3
				case 'o':
					bits = cur & 0o007
				}
				perm = bits | bits<<3 | bits<<6
				i++
			} else {
				for ; i < len(clause) && strings.IndexByte("rwxXst", clause[i]) >= 0; i++ {
					switch clause[i] {
					case 'r':
						perm |= 0o444
					case 'w':
						perm |= 0o222
					case 'x':
						perm |= 0o111
					case 'X':
						if dir || cur&0o111 != 0 {
							perm |= 0o111
						}
					case 's':
						perm |= 0o6000
					case 't':
						perm |= 0o1000
					}
				}
			}
			perm &= who & mask
			switch op {
			case '+':
				cur |= perm
			case '-':
				cur &^= perm
			case '=':
				// = clears the class's bits, whatever the umask
				// (which only narrows what is set), but not a
				// directory's set-ID bits unless named, as
				// coreutils' mode_adjust.
				clear := who &^ 0o7000 & 0o777
				if who&0o4000 != 0 && (!dir || perm&0o4000 != 0) {
					clear |= 0o4000
				}
				if who&0o2000 != 0 && (!dir || perm&0o2000 != 0) {
					clear |= 0o2000
				}
				if who&0o1000 != 0 {
					clear |= 0o1000
				}
				cur = cur&^clear | perm
			}
		}
	}
	return cur, true
}

// chmod sets each PATH's mode (symlinks followed, as chmod does). A MODE
// that starts with "-" ("-w") follows "--", as the flags would take it.
func chmod(s *session, args []string) {
	mode, paths := args[0], args[1:]
	if _, ok := parseMode(mode, 0, false, 0); !ok {
		s.warn(exitFail, "invalid mode: '%s'", mode)
		fmt.Fprintln(s.stderr, "Try 'lklimg chmod --help' for more information.")
		return
	}
	for _, p := range paths {
		old, err := s.stat(p)
		if err != nil {
			if s.dangling(p, err) {
				s.warn(exitFail, "cannot operate on dangling symlink '%s'", p)
			} else {
				s.warn(exitFail, "cannot access '%s': %s", p, strerror(err))
			}
			continue
		}
		m, _ := parseMode(mode, old, isDir(old), s.umask())
		if err := s.k.Fchmodat(abi.AT_FDCWD, s.kpath(p), m, 0); err != nil {
			s.warn(exitFail, "changing permissions of '%s': %s", p, strerror(err))
			continue
		}
		// A clause without "who" is narrowed by the umask; GNU chmod
		// then says what it could not do, and fails.
		if asked, _ := parseMode(mode, old, isDir(old), 0); asked != m {
			s.warn(exitFail, "%s: new permissions are %s, not %s", p, modeString(m)[1:], modeString(asked)[1:])
		}
	}
}

// chown sets each PATH's owner and group (symlinks followed). OWNER and
// GROUP are numbers or names from the image's /etc/passwd and /etc/group;
// an empty one is left unchanged, except that "OWNER:" takes OWNER's
// login group from the image's /etc/passwd.
func chown(s *session, args []string) {
	spec, paths := args[0], args[1:]
	users, groups, err := archive.IDNames(s.k, s.root)
	if err != nil {
		users, groups = nil, nil
	}
	owner, group, colon := strings.Cut(spec, ":")
	uid, ok := lookupID(owner, users)
	if !ok {
		s.warn(exitFail, "invalid user: '%s'", spec)
		return
	}
	gid, ok := lookupID(group, groups)
	if !ok {
		s.warn(exitFail, "invalid group: '%s'", spec)
		return
	}
	if colon && group == "" && owner != "" {
		// "OWNER:" is OWNER and OWNER's login group (chown(1)).
		if gid, ok = s.loginGroup(owner); !ok {
			s.warn(exitFail, "invalid spec: '%s'", spec)
			return
		}
	}
	for _, p := range paths {
		if err := s.k.Fchownat(abi.AT_FDCWD, s.kpath(p), uid, gid, 0); err != nil {
			if s.dangling(p, err) {
				s.warn(exitFail, "cannot dereference '%s': %s", p, strerror(err))
			} else if abi.ErrnoOf(err) == abi.ENOENT {
				s.warn(exitFail, "cannot access '%s': %s", p, strerror(err))
			} else {
				s.warn(exitFail, "changing ownership of '%s': %s", p, strerror(err))
			}
		}
	}
}

// loginGroup is the group ID (field 4) of the image's /etc/passwd line
// for user, by name (GNU chown refuses "1:"); ok is false when there is
// none.
func (s *session) loginGroup(user string) (int, bool) {
	p, err := archive.Resolve(s.k, s.root, "/etc/passwd")
	if err != nil {
		return 0, false
	}
	fd, err := s.k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY, 0)
	if err != nil {
		return 0, false
	}
	defer s.k.Close(fd)
	// A real passwd file is kilobytes; 1 MiB is plenty to find a line.
	buf := make([]byte, 1<<20)
	n := 0
	for n < len(buf) {
		m, err := s.k.Read(fd, buf[n:])
		if err != nil || m == 0 {
			break
		}
		n += m
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[0] != user {
			continue
		}
		gid, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return 0, false
		}
		return int(gid), true
	}
	return 0, false
}

// dangling says whether err, from following p, is ENOENT for a symlink
// whose target is missing, which chmod and chown report in words of
// their own.
func (s *session) dangling(p string, err error) bool {
	if abi.ErrnoOf(err) != abi.ENOENT {
		return false
	}
	m, lerr := s.lstat(p)
	return lerr == nil && m&abi.S_IFMT == abi.S_IFLNK
}

// lookupID is a name's ID in names (ID to name), else the number it is;
// -1 for "" (unchanged).
func lookupID(name string, names map[uint32]string) (int, bool) {
	if name == "" {
		return -1, true
	}
	for id, n := range names {
		if n == name {
			return int(id), true
		}
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, false
	}
	return int(n), true
}

type touchFlags struct {
	date, ref                         string
	access, modify, noCreate, noDeref bool
}

func (f *touchFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "a", Destination: &f.access, Usage: "change only the access time"},
		&cli.BoolFlag{Name: "no-create", Aliases: []string{"c"}, Destination: &f.noCreate, Usage: "do not create any files"},
		&cli.StringFlag{Name: "date", Aliases: []string{"d"}, Destination: &f.date,
			Usage: "use `DATE` (RFC 3339, \"YYYY-MM-DD HH:MM:SS\" in UTC, or @SECONDS) instead of now"},
		&cli.BoolFlag{Name: "no-dereference", Destination: &f.noDeref,
			Usage: "(-h) affect each symbolic link instead of the file it names (creates nothing)"},
		&cli.BoolFlag{Name: "m", Destination: &f.modify, Usage: "change only the modification time"},
		&cli.StringFlag{Name: "reference", Aliases: []string{"r"}, Destination: &f.ref,
			Usage: "use the times of `FILE` (in the image) instead of now"},
	}
}

// parseDate reads touch -d's forms this command accepts: the archive
// tools' @SECONDS[.FRAC] and RFC 3339 (cliflags.ParseTime), and
// "YYYY-MM-DD HH:MM:SS[.FRAC]" in UTC.
func parseDate(d string) (abi.Timespec, error) {
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", d, time.UTC); err == nil {
		return abi.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}, nil
	}
	t, err := cliflags.ParseTime(d)
	return abi.Timespec{Sec: t.Sec, Nsec: t.Nsec}, err
}

// times returns the access and modification times touch sets, as GNU
// touch chooses them: -r's file's (lstat with -h), -d's, or now; with -a
// or -m alone the other one is left as it is (UTIME_OMIT). false when a
// warning was given.
func (f *touchFlags) times(s *session) ([2]abi.Timespec, bool) {
	now := abi.Timespec{Nsec: abi.UTIME_NOW}
	t := [2]abi.Timespec{now, now}
	if f.ref != "" {
		var st abi.Stat
		flags := 0
		if f.noDeref {
			flags = abi.AT_SYMLINK_NOFOLLOW
		}
		if err := s.k.Fstatat(abi.AT_FDCWD, s.kpath(f.ref), &st, flags); err != nil {
			s.warn(exitFail, "failed to get attributes of '%s': %s", f.ref, strerror(err))
			return t, false
		}
		t = [2]abi.Timespec{st.Atim, st.Mtim}
	}
	if f.date != "" {
		d, err := parseDate(f.date)
		if err != nil {
			s.warn(exitFail, "invalid date format '%s'", f.date)
			return t, false
		}
		t = [2]abi.Timespec{d, d}
	}
	switch {
	case f.access && !f.modify:
		t[1] = abi.Timespec{Nsec: abi.UTIME_OMIT}
	case f.modify && !f.access:
		t[0] = abi.Timespec{Nsec: abi.UTIME_OMIT}
	}
	return t, true
}

// touch creates each missing PATH (an empty file, mode 0666 - umask;
// not with -c or -h) and sets its times (touchFlags.times).
func touch(s *session, f *touchFlags, args []string) {
	times, ok := f.times(s)
	if !ok {
		return
	}
	for _, p := range args {
		var err error
		if f.noCreate || f.noDeref {
			flags := 0
			if f.noDeref {
				flags = abi.AT_SYMLINK_NOFOLLOW
			}
			err = s.k.Utimensat(abi.AT_FDCWD, s.kpath(p), &times, flags)
			if f.noCreate && abi.ErrnoOf(err) == abi.ENOENT {
				continue // -c: a missing file is not made, and not an error
			}
		} else {
			var fd int
			fd, err = s.k.Openat(abi.AT_FDCWD, s.kpath(p), abi.O_WRONLY|abi.O_CREAT|abi.O_NONBLOCK|abi.O_NOCTTY, 0o666)
			if err != nil && abi.ErrnoOf(err) != abi.EISDIR {
				s.warn(exitFail, "cannot touch '%s': %s", p, strerror(err))
				continue
			}
			if err == nil {
				err = s.k.Utimensat(fd, "", &times, abi.AT_EMPTY_PATH)
				s.k.Close(fd)
			} else {
				err = s.k.Utimensat(abi.AT_FDCWD, s.kpath(p), &times, 0)
			}
		}
		if err != nil {
			s.warn(exitFail, "setting times of '%s': %s", p, strerror(err))
		}
	}
}

type setfattrFlags struct{ name, value, remove string }

func (f *setfattrFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Destination: &f.name, Usage: "set attribute `NAME`"},
		&cli.StringFlag{Name: "value", Aliases: []string{"v"}, Destination: &f.value,
			Usage: "its `VALUE`: \"text\", 0xHEX or 0sBASE64 (empty when not given)"},
		&cli.StringFlag{Name: "remove", Aliases: []string{"x"}, Destination: &f.remove, Usage: "remove attribute `NAME`"},
	}
}

// decodeValue reads a value as setfattr does (attr's getfattr/setfattr
// text forms): 0x hex, 0s base64, "text" with backslash-octal escapes,
// anything else as its bytes.
func decodeValue(v string) ([]byte, error) {
	switch {
	case len(v) >= 2 && (v[:2] == "0x" || v[:2] == "0X"):
		return hex.DecodeString(v[2:])
	case len(v) >= 2 && (v[:2] == "0s" || v[:2] == "0S"):
		return base64.StdEncoding.DecodeString(v[2:])
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		// Only a value quoted at both ends is unquoted; setfattr
		// stores `"abc` as it is.
		var b []byte
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' && i+3 < len(v)-1 && strings.Trim(v[i+1:i+4], "01234567") == "" {
				n, _ := strconv.ParseUint(v[i+1:i+4], 8, 8)
				b = append(b, byte(n))
				i += 3
				continue
			}
			if c == '\\' && i+1 < len(v)-1 {
				i++
				c = v[i]
			}
			b = append(b, c)
		}
		return b, nil
	}
	return []byte(v), nil
}

// setfattr sets (-n, -v) or removes (-x) one attribute of each PATH,
// symlinks followed.
func setfattr(s *session, f *setfattrFlags, args []string) {
	if (f.name == "") == (f.remove == "") {
		s.warn(exitImage, "usage: setfattr {-n name [-v value] | -x name} IMAGE PATH...")
		return
	}
	value, err := decodeValue(f.value)
	if err != nil {
		// setfattr says this without its name.
		s.out.Flush()
		fmt.Fprintln(s.stderr, "bad input encoding")
		s.status = max(s.status, exitFail)
		return
	}
	for _, p := range args {
		if f.remove != "" {
			err = s.k.Removexattr(s.kpath(p), f.remove)
		} else {
			err = s.k.Setxattr(s.kpath(p), f.name, value, 0)
		}
		switch {
		case abi.ErrnoOf(err) == abi.ENODATA:
			// attr's tools print ENODATA as ENOATTR, "No such attribute".
			s.warn(exitFail, "%s: No such attribute", p)
		case err != nil:
			s.warn(exitFail, "%s: %s", p, strerror(err))
		}
	}
}
