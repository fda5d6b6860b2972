package fusefs

import (
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The translations for macFUSE run on every host; darwin_darwin_test.go
// checks Darwin's numbers against x/sys/unix's where they are known.

func TestDarwinErrno(t *testing.T) {
	for _, c := range []struct {
		linux  abi.Errno
		darwin uintptr
	}{
		{abi.ENOENT, 2}, {abi.EACCES, 13}, {abi.ERANGE, 34},
		{abi.EAGAIN, 35}, {abi.EDEADLK, 11}, {abi.ENOTEMPTY, 66},
		{abi.ENAMETOOLONG, 63}, {abi.ELOOP, 62}, {abi.ENOSYS, 78},
		{abi.ENODATA, 93}, {abi.EOPNOTSUPP, 45}, {abi.EUCLEAN, 5},
		{abi.EDQUOT, 69}, {abi.ESTALE, 70}, {abi.EOVERFLOW, 84}, {abi.EBADMSG, 94},
	} {
		if got := darwinErrnoOf(c.linux); got != c.darwin {
			t.Errorf("%v: Darwin errno %d, want %d", c.linux, got, c.darwin)
		}
	}
	// Every errno above ERANGE the kernel returns has its own line: none
	// may reach macOS as Linux's number, which means another error there.
	for _, e := range []abi.Errno{abi.EDEADLK, abi.ENAMETOOLONG, abi.ENOSYS, abi.ENOTEMPTY, abi.ELOOP,
		abi.ENODATA, abi.EBADMSG, abi.EOVERFLOW, abi.EOPNOTSUPP, abi.ESTALE, abi.EUCLEAN, abi.EDQUOT,
		abi.EMEDIUMTYPE, abi.EKEYREJECTED, abi.ENOKEY} {
		if _, ok := darwinErrno[e]; !ok {
			t.Errorf("%v has no Darwin errno", e)
		}
	}
}

func TestDarwinOpenFlags(t *testing.T) {
	for _, c := range []struct{ darwin, linux uint32 }{
		{0, abi.O_RDONLY},
		{1, abi.O_WRONLY},
		{2 | 0x200 | 0x800 | 0x8, abi.O_RDWR}, // O_CREAT, O_EXCL, O_APPEND: not the open's
		{0x80, abi.O_SYNC},
		{1 | 0x400000, abi.O_WRONLY | abi.O_DSYNC},
		{0x100 | 0x100000, abi.O_NOFOLLOW | abi.O_DIRECTORY},
	} {
		if got := darwinOpenFlags(c.darwin); got != c.linux {
			t.Errorf("Darwin open flags %#x: kernel's %#o, want %#o", c.darwin, got, c.linux)
		}
	}
}

func TestDarwinWhenceXattrRename(t *testing.T) {
	if darwinWhence(3) != abi.SEEK_HOLE || darwinWhence(4) != abi.SEEK_DATA || darwinWhence(abi.SEEK_END) != abi.SEEK_END {
		t.Error("lseek's whence: Darwin's SEEK_HOLE is 3, SEEK_DATA 4")
	}
	if darwinXattrFlags(2) != abi.XATTR_CREATE || darwinXattrFlags(4) != abi.XATTR_REPLACE || darwinXattrFlags(1) != 0 {
		t.Error("setxattr's flags: Darwin's XATTR_CREATE is 2, XATTR_REPLACE 4, XATTR_NOFOLLOW 1")
	}
	if darwinRenameFlags(2) != abi.RENAME_EXCHANGE || darwinRenameFlags(4) != abi.RENAME_NOREPLACE {
		t.Error("renamex_np's flags: RENAME_SWAP is 2, RENAME_EXCL 4")
	}
}

func TestDarwinDev(t *testing.T) {
	if d := darwinDev(8, 3); d != 0x08000003 {
		t.Errorf("dev 8:3 is %#x on Darwin, want 0x08000003", d)
	}
	if ma, mi := darwinDevNumbers(darwinDev(253, 0x12345)); ma != 253 || mi != 0x12345 {
		t.Errorf("dev 253:0x12345 came back %d:%#x", ma, mi)
	}
}
