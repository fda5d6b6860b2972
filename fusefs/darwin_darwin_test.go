package fusefs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestDarwinNumbers checks darwin.go's numbers against Darwin's own.
func TestDarwinNumbers(t *testing.T) {
	for _, c := range []struct {
		name      string
		ours, sys int
	}{
		{"EAGAIN", 35, int(unix.EAGAIN)}, {"EDEADLK", 11, int(unix.EDEADLK)},
		{"ENAMETOOLONG", 63, int(unix.ENAMETOOLONG)}, {"ENOSYS", 78, int(unix.ENOSYS)},
		{"ENOTEMPTY", 66, int(unix.ENOTEMPTY)}, {"ELOOP", 62, int(unix.ELOOP)},
		{"ENOATTR", 93, int(unix.ENOATTR)}, {"EOVERFLOW", 84, int(unix.EOVERFLOW)},
		{"ENOTSUP", 45, int(unix.ENOTSUP)}, {"ESTALE", 70, int(unix.ESTALE)},
		{"EDQUOT", 69, int(unix.EDQUOT)}, {"EBADMSG", 94, int(unix.EBADMSG)},
		{"O_SYNC", darwinO_SYNC, unix.O_SYNC}, {"O_DSYNC", darwinO_DSYNC, unix.O_DSYNC},
		{"O_NOFOLLOW", darwinO_NOFOLLOW, unix.O_NOFOLLOW}, {"O_DIRECTORY", darwinO_DIRECTORY, unix.O_DIRECTORY},
		{"SEEK_HOLE", 3, unix.SEEK_HOLE}, {"SEEK_DATA", 4, unix.SEEK_DATA},
		{"XATTR_CREATE", 2, unix.XATTR_CREATE}, {"XATTR_REPLACE", 4, unix.XATTR_REPLACE},
		{"RENAME_SWAP", 2, unix.RENAME_SWAP}, {"RENAME_EXCL", 4, unix.RENAME_EXCL},
	} {
		if c.ours != c.sys {
			t.Errorf("%s: ours %d, Darwin's %d", c.name, c.ours, c.sys)
		}
	}
}
