//go:build linux

package ext4_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// TestE2fsprogsImages walks each image of a directory named by
// LKLIMG_E2IMAGES (e2fsprogs' tests/*/image.gz, decompressed as
// <test>.img) under the host kernel's read-only mount and under ours,
// and reports every image whose walks differ: the mount's errno, then
// per name lstat (type, mode, size, links), a directory's entries and
// the errno ending their listing, a file's bytes (hash and count) and
// the errno ending its reading, a symlink's target, the attributes'
// names and values. The host mounts a read-write loop device of a
// copy, so that a journal needing recovery is replayed as ours replays
// it in memory. LKLIMG_E2OUT, when set, keeps both walks there as
// <test>.host and <test>.ours. It fetches nothing: without the
// variable it skips.
func TestE2fsprogsImages(t *testing.T) {
	dir := os.Getenv("LKLIMG_E2IMAGES")
	if dir == "" {
		t.Skip("LKLIMG_E2IMAGES not set")
	}
	testutil.NeedLoop(t)
	imgs, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	if only := os.Getenv("LKLIMG_E2ONLY"); only != "" {
		imgs = slices.DeleteFunc(imgs, func(p string) bool {
			return !slices.Contains(strings.Split(only, ","), strings.TrimSuffix(filepath.Base(p), ".img"))
		})
	}
	out := os.Getenv("LKLIMG_E2OUT")
	differ := 0
	for _, img := range imgs {
		name := strings.TrimSuffix(filepath.Base(img), ".img")
		host, ours := hostImageWalk(t, img), ourImageWalk(t, img)
		if out != "" {
			os.WriteFile(filepath.Join(out, name+".host"), []byte(host), 0o644)
			os.WriteFile(filepath.Join(out, name+".ours"), []byte(ours), 0o644)
		}
		if host != ours {
			differ++
			t.Errorf("%s: the walks differ", name)
		}
	}
	t.Logf("%d of %d images differ", differ, len(imgs))
}

// walkSys is what the walk asks of a mounted filesystem, by path.
type walkSys interface {
	lstat(p string) (mode uint32, size int64, nlink uint64, err error)
	// list returns the names (without "." and "..") in listing order
	// and the error that ended the listing.
	list(p string) ([]string, error)
	// read returns the bytes read, in reads of walkChunk, until EOF or
	// an error.
	read(p string) ([]byte, error)
	readlink(p string) (string, error)
	xattrs(p string) string
}

const walkChunk = 1 << 17

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return abi.Errno(e).Error()
	}
	return abi.ErrnoOf(err).Error()
}

// walkImage walks the tree under root depth first, names sorted.
func walkImage(s walkSys, root string) string {
	var b strings.Builder
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		p := root + rel
		mode, size, nlink, err := s.lstat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s lstat %s\n", rel, errnoName(err))
			return
		}
		fmt.Fprintf(&b, "%s mode %o size %d links %d\n", rel, mode, size, nlink)
		if x := s.xattrs(p); x != "" {
			fmt.Fprintf(&b, "%s xattrs %s\n", rel, x)
		}
		switch mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := s.read(p)
			fmt.Fprintf(&b, "%s read %d %x %s\n", rel, len(data), sha256.Sum256(data), errnoName(err))
		case unix.S_IFLNK:
			tg, err := s.readlink(p)
			fmt.Fprintf(&b, "%s readlink %q %s\n", rel, tg, errnoName(err))
		case unix.S_IFDIR:
			names, err := s.list(p)
			sorted := slices.Clone(names)
			slices.Sort(sorted)
			fmt.Fprintf(&b, "%s list %d %s\n", rel, len(names), errnoName(err))
			if depth > 16 {
				fmt.Fprintf(&b, "%s deep\n", rel)
				return
			}
			for i, n := range sorted {
				if i > 0 && sorted[i-1] == n {
					fmt.Fprintf(&b, "%s/%s again\n", rel, n)
					continue
				}
				walk(rel+"/"+n, depth+1)
			}
		}
	}
	walk("", 0)
	return b.String()
}

// hostImageWalk mounts a copy of img on the host and walks it.
func hostImageWalk(t *testing.T, img string) string {
	tmp := t.TempDir()
	cp := filepath.Join(tmp, "img")
	if o, err := exec.Command("cp", "--sparse=always", img, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, o)
	}
	o, err := exec.Command("losetup", "-f", "--show", cp).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(o))
	defer exec.Command("losetup", "-d", loop).Run()
	mnt := filepath.Join(tmp, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount(loop, mnt, "ext4", unix.MS_RDONLY, "errors=continue"); err != nil {
		return "mount " + errnoName(err) + "\n"
	}
	defer unix.Unmount(mnt, 0)
	return "mount ok\n" + walkImage(hostSys{}, mnt)
}

// ourImageWalk boots a kernel over img (a read-only disk), mounts it read-only
// and walks it.
func ourImageWalk(t *testing.T, img string) string {
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, kernel.DiskOptions{Format: "raw", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755)
	if err := k.Mount("/dev/vda", "/mnt", "ext4", abi.MS_RDONLY, "errors=continue"); err != nil {
		return "mount " + errnoName(err) + "\n"
	}
	defer k.Umount("/mnt", 0)
	s := walkImage(ourSys{k}, "/mnt")
	if os.Getenv("LKLIMG_E2LOG") != "" {
		t.Logf("%s:\n%s", img, k.Dmesg())
	}
	return "mount ok\n" + s
}

type hostSys struct{}

func (hostSys) lstat(p string) (uint32, int64, uint64, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st.Mode, st.Size, uint64(st.Nlink), err // uint32 on some architectures
}

func (hostSys) list(p string) ([]string, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return listAll(func(buf []byte) (int, error) { return unix.Getdents(fd, buf) })
}

// listAll lists a directory by getdents64 until its end or an error,
// without "." and "..".
func listAll(getdents func([]byte) (int, error)) ([]string, error) {
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := getdents(buf)
		if err != nil {
			return names, err
		}
		if n == 0 {
			return names, nil
		}
		for _, d := range abi.ParseDirents(buf[:n], nil) {
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
}

func (hostSys) read(p string) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAll(func(buf []byte) (int, error) { return unix.Read(fd, buf) }, walkChunk)
}

// readAll reads a file by reads of chunk bytes until its end, or until
// an error, returned with the bytes read before it.
func readAll(read func([]byte) (int, error), chunk int) ([]byte, error) {
	var data []byte
	buf := make([]byte, chunk)
	for {
		n, err := read(buf)
		if err != nil {
			return data, err
		}
		if n == 0 {
			return data, nil
		}
		data = append(data, buf[:n]...)
	}
}

func (hostSys) readlink(p string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(p, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (hostSys) xattrs(p string) string {
	return xattrLine(func(dest []byte) (int, error) { return unix.Llistxattr(p, dest) },
		func(name string, dest []byte) (int, error) { return unix.Lgetxattr(p, name, dest) })
}

// xattrLine lists a name's attributes with the hash of each value, or
// the errno of its reading.
func xattrLine(list func([]byte) (int, error), get func(string, []byte) (int, error)) string {
	buf := make([]byte, 1<<16)
	n, err := list(buf)
	if err != nil {
		return "list " + errnoName(err)
	}
	var parts []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 1<<16)
		m, err := get(name, v)
		if err != nil {
			parts = append(parts, name+"="+errnoName(err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d:%x", name, m, sha256.Sum256(v[:m])))
	}
	return strings.Join(parts, " ")
}

type ourSys struct{ k *kernel.Kernel }

func (s ourSys) lstat(p string) (uint32, int64, uint64, error) {
	var st abi.Stat
	err := s.k.Fstatat(abi.AT_FDCWD, p, &st, abi.AT_SYMLINK_NOFOLLOW)
	return st.Mode, st.Size, uint64(st.Nlink), err // uint32 on some architectures
}

func (s ourSys) list(p string) ([]string, error) {
	fd, err := s.k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY|abi.O_DIRECTORY|abi.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer s.k.Close(fd)
	return listAll(func(buf []byte) (int, error) { return s.k.Getdents64(fd, buf) })
}

func (s ourSys) read(p string) ([]byte, error) {
	fd, err := s.k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY|abi.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer s.k.Close(fd)
	return readAll(func(buf []byte) (int, error) { return s.k.Read(fd, buf) }, walkChunk)
}

func (s ourSys) readlink(p string) (string, error) {
	buf := make([]byte, 4096)
	n, err := s.k.Readlinkat(abi.AT_FDCWD, p, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (s ourSys) xattrs(p string) string {
	return xattrLine(func(dest []byte) (int, error) { return s.k.Llistxattr(p, dest) },
		func(name string, dest []byte) (int, error) { return s.k.Lgetxattr(p, name, dest) })
}
