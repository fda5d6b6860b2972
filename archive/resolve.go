package archive

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// maxSymlinks is how many symlinks one resolution may follow, as Linux's
// MAXSYMLINKS (40) for a path walk.
const maxSymlinks = 40

// Resolve returns the kernel path of p inside the tree at root, as a
// process chrooted at root would see p: ".." never climbs above root, and
// a symlink's absolute target starts again from root, not from the
// kernel's own "/" (an image's "/lib -> usr/lib" or "/var/run -> /run"
// must stay inside the image). p may be absolute or relative; "" and "/"
// are root itself. The result names no symlink; it need not be a
// directory.
//
// Errors: what Fstatat and Readlinkat return for a missing component
// (ENOENT) or one that is not a directory (ENOTDIR); ELOOP after
// maxSymlinks symlinks.
func Resolve(sys Syscalls, root, p string) (string, error) {
	root = strings.TrimSuffix(root, "/")
	var done []string             // components resolved, none a symlink
	todo := strings.Split(p, "/") // components still to walk
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := root + "/" + strings.Join(append(done, c), "/")
		var st abi.Stat
		if err := sys.Fstatat(abi.AT_FDCWD, cur, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
			return "", err
		}
		if st.Mode&abi.S_IFMT != abi.S_IFLNK {
			if len(todo) > 0 && st.Mode&abi.S_IFMT != abi.S_IFDIR {
				return "", abi.ENOTDIR
			}
			done = append(done, c)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", abi.ELOOP
		}
		buf := make([]byte, abi.PATH_MAX)
		n, err := sys.Readlinkat(abi.AT_FDCWD, cur, buf)
		if err != nil {
			return "", err
		}
		target := string(buf[:n])
		if strings.HasPrefix(target, "/") {
			done = done[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(done) == 0 {
		if root == "" {
			return "/", nil
		}
		return root, nil
	}
	return root + "/" + strings.Join(done, "/"), nil
}

// ReadDirNames returns the names in the kernel directory dir (opened
// without following a symlink), without "." and "..", in the order
// getdents64 gives them. buf is the getdents64 buffer.
func ReadDirNames(sys Syscalls, dir string, buf []byte) ([]string, error) {
	fd, err := sys.Openat(abi.AT_FDCWD, dir, abi.O_RDONLY|abi.O_DIRECTORY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer sys.Close(fd)
	var names []string
	var ds []abi.Dirent
	for {
		n, err := sys.Getdents64(fd, buf)
		if err != nil {
			return names, err
		}
		if n == 0 {
			return names, nil
		}
		ds = abi.ParseDirents(buf[:n], ds[:0])
		for _, d := range ds {
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
}
