package kernel

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestChdir: relative paths start at the working directory after Chdir or
// Fchdir, for every thread (As); absolute paths at the root; a file is
// ENOTDIR and leaves the directory as it was.
func TestChdir(t *testing.T) {
	k := bootRamfs(t, Config{})
	for _, d := range []string{"/a", "/a/b", "/c"} {
		if err := k.Mkdirat(abi.AT_FDCWD, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stat := func(k *Kernel, p string) error {
		var st abi.Stat
		return k.Fstatat(abi.AT_FDCWD, p, &st, 0)
	}
	if err := k.Chdir("/a"); err != nil {
		t.Fatal(err)
	}
	if err := stat(k, "b"); err != nil {
		t.Errorf("b after chdir /a: %v", err)
	}
	if err := stat(k.As(Cred{Uid: 1}), "b"); err != nil {
		t.Errorf("b from another thread: %v", err)
	}
	if err := stat(k, "c"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("c after chdir /a: %v, want ENOENT", err)
	}
	if err := stat(k, "/c"); err != nil {
		t.Errorf("/c after chdir /a: %v", err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/c", abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Fchdir(fd); err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	if err := k.Mkdirat(abi.AT_FDCWD, "made", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := stat(k, "/c/made"); err != nil {
		t.Errorf("mkdir relative to /c: %v", err)
	}
	fd, err = k.Openat(abi.AT_FDCWD, "/c/f", abi.O_CREAT|abi.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	// The calls that take a path and no dirfd start there too.
	if err := k.Truncate("f", 5); err != nil {
		t.Errorf("truncate f relative to /c: %v", err)
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/c/f", &st, 0); err != nil || st.Size != 5 {
		t.Errorf("/c/f after truncate: size %d, %v", st.Size, err)
	}
	var sfs abi.Statfs
	if err := k.Statfs("f", &sfs); err != nil {
		t.Errorf("statfs f relative to /c: %v", err)
	}
	if err := k.Chdir("/c/f"); !errors.Is(err, abi.ENOTDIR) {
		t.Errorf("chdir to a file: %v, want ENOTDIR", err)
	}
	if err := stat(k, "made"); err != nil {
		t.Errorf("the working directory changed after a failed chdir: %v", err)
	}
	if err := k.Chdir(".."); err != nil {
		t.Fatal(err)
	}
	if err := stat(k, "a/b"); err != nil {
		t.Errorf("a/b after chdir ..: %v", err)
	}
}
