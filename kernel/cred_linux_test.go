package kernel

import (
	"testing"

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
