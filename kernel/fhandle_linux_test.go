package kernel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// fhCase is one name_to_handle_at call: a path in the image (relative to
// its root), its flags, and whether an O_PATH|O_NOFOLLOW descriptor of
// the path is given with an empty path and AT_EMPTY_PATH instead.
type fhCase struct {
	path  string
	flags int
	empty bool
}

// fhResult is what one call gives: the handle or the errno.
type fhResult struct {
	typ   int32
	bytes []byte
	errno abi.Errno
}

// TestNameToHandleAtHost compares our file handles with the host
// kernel's on the same ext4 image: made by mkfs.ext4 -d (a regular file,
// directories, symlinks, device nodes, a FIFO), plus a file and a
// directory our driver made (their generations ours), read back by the
// host through a read-only loop mount. Type and bytes must be the same
// for every path, with and without AT_SYMLINK_FOLLOW, and through
// AT_EMPTY_PATH.
func TestNameToHandleAtHost(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4")
	testutil.NeedLoop(t)
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644))
	must(os.MkdirAll(filepath.Join(src, "d/sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "d/sub/g"), nil, 0o600))
	must(os.Symlink("f", filepath.Join(src, "l")))
	must(os.Symlink("d/sub", filepath.Join(src, "dl")))
	must(os.Symlink("missing", filepath.Join(src, "dangling")))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(src, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o644))
	img := t.TempDir() + "/img"
	testutil.Run(t, tools[0], "-q", "-F", "-d", src, img, "8M")

	var cases []fhCase
	for _, p := range []string{"", "f", "d", "d/sub", "d/sub/g", "l", "dl", "dl/g", "dangling", "null", "blk", "fifo", "new", "newd", "nope"} {
		cases = append(cases, fhCase{path: p}, fhCase{path: p, flags: unix.AT_SYMLINK_FOLLOW})
	}
	for _, p := range []string{"f", "d", "l", "null"} {
		cases = append(cases, fhCase{path: p, flags: unix.AT_EMPTY_PATH, empty: true},
			fhCase{path: p, flags: unix.AT_EMPTY_PATH | unix.AT_SYMLINK_FOLLOW, empty: true})
	}

	k, mnt, halt := bootExt4RW(t, Config{}, img)
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/new", abi.O_CREAT|abi.O_WRONLY, 0o644)
	must(err)
	must(k.Close(fd))
	must(k.Mkdirat(abi.AT_FDCWD, mnt+"/newd", 0o755))
	ours := make([]fhResult, len(cases))
	mountIDs := map[int]bool{}
	for i, c := range cases {
		dirfd, path := abi.AT_FDCWD, mnt+"/"+c.path
		if c.empty {
			dirfd, err = k.Openat(abi.AT_FDCWD, path, abi.O_PATH|abi.O_NOFOLLOW, 0)
			must(err)
			path = ""
		}
		fh, id, err := k.NameToHandleAt(dirfd, path, c.flags)
		if c.empty {
			k.Close(dirfd)
		}
		if err != nil {
			ours[i] = fhResult{errno: abi.ErrnoOf(err)}
			continue
		}
		ours[i] = fhResult{typ: fh.Type, bytes: fh.Bytes}
		mountIDs[id] = true
	}
	if len(mountIDs) != 1 || mountIDs[0] {
		t.Errorf("mount IDs %v: want one, not 0", mountIDs)
	}
	if _, _, err := k.NameToHandleAt(abi.AT_FDCWD, "/dev", 0); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("ramfs: %v, want EOPNOTSUPP", err)
	}
	if _, _, err := k.NameToHandleAt(abi.AT_FDCWD, mnt, 0x200); !errors.Is(err, abi.EINVAL) {
		t.Errorf("AT_HANDLE_FID: %v, want EINVAL", err)
	}
	if _, _, err := k.NameToHandleAt(abi.AT_FDCWD, "", 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("empty path without AT_EMPTY_PATH: %v, want ENOENT", err)
	}
	must(halt())

	hmnt, _ := testutil.HostMount(t, img, "ro")
	for i, c := range cases {
		dirfd, path := unix.AT_FDCWD, hmnt+"/"+c.path
		if c.empty {
			dirfd, err = unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW, 0)
			must(err)
			path = ""
		}
		fh, _, err := unix.NameToHandleAt(dirfd, path, c.flags)
		if c.empty {
			unix.Close(dirfd)
		}
		var host fhResult
		if err != nil {
			host.errno = abi.Errno(err.(unix.Errno))
		} else {
			host = fhResult{typ: fh.Type(), bytes: fh.Bytes()}
		}
		if o := ours[i]; o.errno != host.errno || o.typ != host.typ || !bytes.Equal(o.bytes, host.bytes) {
			t.Errorf("%q flags %#x empty %v: ours type %d % x %v, host type %d % x %v",
				c.path, c.flags, c.empty, o.typ, o.bytes, o.errno, host.typ, host.bytes, host.errno)
		}
	}
}
