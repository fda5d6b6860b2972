package kernel

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestCredExt4 checks Kernel.As on ext4: the owners and modes of
// checkCreds and checkCredsConcurrent written in the inodes; a default
// ACL on the directory replacing the thread's umask (ext4 is a
// PosixACLer, posix_acl_create); a RENAME_WHITEOUT's whiteout owned by
// the thread (ext4_whiteout_for_rename's inode_init_owner); e2fsck -fn
// clean afterwards.
func TestCredExt4(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := t.TempDir() + "/img"
	testutil.Run(t, tools[0], "-q", "-F", img, "16M")
	k, mnt, halt := bootExt4RW(t, Config{}, img)
	for _, d := range []string{"/c", "/cc", "/acl"} {
		if err := k.Mkdirat(abi.AT_FDCWD, mnt+d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	checkCreds(t, k, mnt+"/c")
	checkCredsConcurrent(t, k, mnt+"/cc")

	// user::rwx group::r-x other::r-x as the default ACL: a new file
	// gets 0666 & 0755, whatever the umask 077 would have taken.
	const userObj, groupObj, other = 0x01, 0x04, 0x20
	if err := k.Setxattr(mnt+"/acl", "system.posix_acl_default", posixACL(userObj, 7, groupObj, 5, other, 5), 0); err != nil {
		t.Fatal(err)
	}
	u := k.As(Cred{Uid: 1000, Gid: 1000, Umask: 0o077})
	makeAll(t, u, mnt+"/acl/")
	wantStat(t, k, mnt+"/acl/f", abi.S_IFREG|0o644, 1000, 1000)
	wantStat(t, k, mnt+"/acl/d", abi.S_IFDIR|0o755, 1000, 1000)
	wantStat(t, k, mnt+"/acl/p", abi.S_IFIFO|0o644, 1000, 1000)
	// The umask where no default ACL is.
	makeAll(t, u, mnt+"/c/masked-")
	wantStat(t, k, mnt+"/c/masked-f", abi.S_IFREG|0o600, 1000, 1000)
	wantStat(t, k, mnt+"/c/masked-d", abi.S_IFDIR|0o700, 1000, 1000)

	if err := u.Renameat2(abi.AT_FDCWD, mnt+"/c/f", abi.AT_FDCWD, mnt+"/c/moved", abi.RENAME_WHITEOUT); err != nil {
		t.Fatal(err)
	}
	wantStat(t, k, mnt+"/c/f", abi.S_IFCHR, 1000, 1000)
	if err := halt(); err != nil {
		t.Fatal(err)
	}
	testutil.E2fsckClean(t, img)
}

// credStep is one thread's work in TestCredHost: makeAll under each of
// dirs with the prefix, by a thread with cred.
type credStep struct {
	cred   Cred
	prefix string
	dirs   []string
}

// credSteps are TestCredHost's threads, in order: two users with their
// umasks in a plain, a set-group-ID and a default-ACL directory; a
// directory made with umask 0 in the set-group-ID one (so another user
// may write in it) and the second user in it.
var credSteps = []credStep{
	{Cred{Uid: 1000, Gid: 1000, Umask: 0o022}, "u1-", []string{"c", "g", "acl"}},
	{Cred{Uid: 7, Gid: 8, Umask: 0o077}, "u2-", []string{"c", "g", "acl"}},
	{Cred{Uid: 1000, Gid: 1000}, "open", []string{"g"}},
	{Cred{Uid: 7, Gid: 8, Umask: 0o027}, "u2-", []string{"g/opend"}},
}

// TestCredHost compares Kernel.As with threads of the host kernel that
// called unshare(CLONE_FS), umask, setfsuid and setfsgid (what a file
// server's threads do): the same steps on two copies of one ext4 image,
// ours through the library kernel and the host's loop-mounted, give
// every new entry the same type, permissions and owner.
func TestCredHost(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	img, himg := dir+"/ours", dir+"/host"
	testutil.Run(t, tools[0], "-q", "-F", img, "16M")
	testutil.Run(t, "cp", "--sparse=always", img, himg)
	const userObj, groupObj, other = 0x01, 0x04, 0x20
	acl := posixACL(userObj, 7, groupObj, 5, other, 5)

	k, mnt, halt := bootExt4RW(t, Config{}, img)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for _, d := range []string{"c", "g", "acl"} {
		must("mkdir", k.Mkdirat(abi.AT_FDCWD, mnt+"/"+d, 0o777))
		must("chmod", k.Fchmodat(abi.AT_FDCWD, mnt+"/"+d, 0o777, 0))
	}
	must("chown g", k.Fchownat(abi.AT_FDCWD, mnt+"/g", 0, 50, 0))
	must("chmod g", k.Fchmodat(abi.AT_FDCWD, mnt+"/g", 0o2777, 0))
	must("setxattr", k.Setxattr(mnt+"/acl", "system.posix_acl_default", acl, 0))
	for _, s := range credSteps {
		u := k.As(s.cred)
		for _, d := range s.dirs {
			if s.prefix == "open" {
				must("mkdir", u.Mkdirat(abi.AT_FDCWD, mnt+"/"+d+"/opend", 0o777))
				continue
			}
			makeAll(t, u, mnt+"/"+d+"/"+s.prefix)
		}
	}

	hmnt, _ := testutil.HostMount(t, himg, "rw")
	for _, d := range []string{"c", "g", "acl"} {
		must("host mkdir", unix.Mkdir(hmnt+"/"+d, 0o777))
		must("host chmod", unix.Chmod(hmnt+"/"+d, 0o777))
	}
	must("host chown g", unix.Chown(hmnt+"/g", 0, 50))
	must("host chmod g", unix.Chmod(hmnt+"/g", 0o2777))
	must("host setxattr", unix.Setxattr(hmnt+"/acl", "system.posix_acl_default", acl, 0))
	// The threads walk from the mount's root, as the test's temporary
	// directory above it is root's alone.
	root, err := unix.Open(hmnt, unix.O_PATH|unix.O_DIRECTORY, 0)
	must("open", err)
	defer unix.Close(root)
	for _, s := range credSteps {
		must("host thread", hostAs(s.cred, func() error {
			for _, d := range s.dirs {
				p := d + "/" + s.prefix
				if s.prefix == "open" {
					if err := unix.Mkdirat(root, d+"/opend", 0o777); err != nil {
						return err
					}
					continue
				}
				fd, err := unix.Openat(root, p+"f", unix.O_CREAT|unix.O_WRONLY, 0o666)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				unix.Close(fd)
				for _, err := range []error{unix.Mkdirat(root, p+"d", 0o777), unix.Mknodat(root, p+"p", unix.S_IFIFO|0o666, 0), unix.Symlinkat("f", root, p+"l")} {
					if err != nil {
						return fmt.Errorf("%s: %w", p, err)
					}
				}
			}
			return nil
		}))
	}

	n := 0
	for _, s := range credSteps {
		for _, d := range s.dirs {
			names := []string{s.prefix + "f", s.prefix + "d", s.prefix + "p", s.prefix + "l"}
			if s.prefix == "open" {
				names = []string{"opend"}
			}
			for _, name := range names {
				p := "/" + d + "/" + name
				var st abi.Stat
				must("stat", k.Fstatat(abi.AT_FDCWD, mnt+p, &st, abi.AT_SYMLINK_NOFOLLOW))
				var hst unix.Stat_t
				must("host stat", unix.Lstat(hmnt+p, &hst))
				if st.Mode != hst.Mode || st.Uid != hst.Uid || st.Gid != hst.Gid {
					t.Errorf("%s: ours %#o %d:%d, host %#o %d:%d", p, st.Mode, st.Uid, st.Gid, hst.Mode, hst.Uid, hst.Gid)
				}
				n++
			}
		}
	}
	if n != 29 {
		t.Errorf("compared %d entries, want 29", n)
	}
	must("halt", halt())
}

// hostAs runs fn on a thread of the host of its own: unshare(CLONE_FS)
// gives it its own umask, set to c.Umask, and setfsuid and setfsgid
// (per thread in Linux) its owner. The thread is left locked, so the Go
// runtime ends it with the goroutine rather than reuse it.
func hostAs(c Cred, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- err
			return
		}
		unix.Umask(int(c.Umask))
		if err := unix.Setfsgid(int(c.Gid)); err != nil {
			errc <- err
			return
		}
		if err := unix.Setfsuid(int(c.Uid)); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
