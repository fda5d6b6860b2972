package kernel

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// wantStat checks the type, permissions and owner of path (not
// following a final symlink).
func wantStat(t *testing.T, k *Kernel, path string, mode, uid, gid uint32) {
	t.Helper()
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, path, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Errorf("stat %s: %v", path, err)
		return
	}
	if st.Mode != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: mode %#o owner %d:%d, want %#o %d:%d", path, st.Mode, st.Uid, st.Gid, mode, uid, gid)
	}
}

// makeAll makes a file (O_CREAT), a directory, a FIFO and a symlink
// named prefix+"f", "d", "p", "l" through k, with permissions 0666
// (0777 for the directory).
func makeAll(t *testing.T, k *Kernel, prefix string) {
	t.Helper()
	fd, err := k.Openat(abi.AT_FDCWD, prefix+"f", abi.O_CREAT|abi.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	for _, err := range []error{
		k.Mkdirat(abi.AT_FDCWD, prefix+"d", 0o777),
		k.Mknodat(abi.AT_FDCWD, prefix+"p", abi.S_IFIFO|0o666, 0),
		k.Symlinkat("f", abi.AT_FDCWD, prefix+"l"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkCreds checks the ownership of what a thread made by As makes
// under dir, a directory of k the first thread (root, umask 022) may
// write: the thread's fsuid and fsgid and its umask, a set-group-ID
// directory's group and S_ISGID passed on (inode_init_owner), and the
// first thread unchanged.
func checkCreds(t *testing.T, k *Kernel, dir string) {
	u := k.As(Cred{Uid: 1000, Gid: 1000, Umask: 0o022})
	makeAll(t, u, dir+"/")
	wantStat(t, k, dir+"/f", abi.S_IFREG|0o644, 1000, 1000)
	wantStat(t, k, dir+"/d", abi.S_IFDIR|0o755, 1000, 1000)
	wantStat(t, k, dir+"/p", abi.S_IFIFO|0o644, 1000, 1000)
	wantStat(t, k, dir+"/l", abi.S_IFLNK|0o777, 1000, 1000)

	// A set-group-ID directory of group 50.
	if err := k.Mkdirat(abi.AT_FDCWD, dir+"/g", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := k.Fchownat(abi.AT_FDCWD, dir+"/g", 0, 50, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Fchmodat(abi.AT_FDCWD, dir+"/g", 0o2777, 0); err != nil {
		t.Fatal(err)
	}
	makeAll(t, u, dir+"/g/")
	wantStat(t, k, dir+"/g/f", abi.S_IFREG|0o644, 1000, 50)
	wantStat(t, k, dir+"/g/d", abi.S_IFDIR|abi.S_ISGID|0o755, 1000, 50)
	wantStat(t, k, dir+"/g/p", abi.S_IFIFO|0o644, 1000, 50)
	wantStat(t, k, dir+"/g/l", abi.S_IFLNK|0o777, 1000, 50)
	// ... and its subdirectory passes both on again.
	makeAll(t, k.As(Cred{Uid: 7, Gid: 8, Umask: 0o077}), dir+"/g/d/")
	wantStat(t, k, dir+"/g/d/f", abi.S_IFREG|0o600, 7, 50)
	wantStat(t, k, dir+"/g/d/d", abi.S_IFDIR|abi.S_ISGID|0o700, 7, 50)

	// Each thread's umask is its own; the first thread is as before.
	if old := u.Umask(0o077); old != 0o022 {
		t.Errorf("thread's umask %#o, want 022", old)
	}
	if old := k.Umask(0o022); old != 0o022 {
		t.Errorf("first thread's umask %#o after the thread's changed", old)
	}
	if err := u.Mkdirat(abi.AT_FDCWD, dir+"/u77", 0o777); err != nil {
		t.Fatal(err)
	}
	wantStat(t, k, dir+"/u77", abi.S_IFDIR|0o700, 1000, 1000)
	makeAll(t, k, dir+"/root-")
	wantStat(t, k, dir+"/root-f", abi.S_IFREG|0o644, 0, 0)
	wantStat(t, k, dir+"/root-d", abi.S_IFDIR|0o755, 0, 0)
	wantStat(t, k, dir+"/root-l", abi.S_IFLNK|0o777, 0, 0)
}

// checkCredsConcurrent has goroutines make files and directories in dir
// at once, each through its own thread with its own owner and umask, and
// checks each got its own (run with -race).
func checkCredsConcurrent(t *testing.T, k *Kernel, dir string) {
	const threads, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, threads)
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := k.As(Cred{Uid: uint32(2000 + i), Gid: uint32(3000 + i), Umask: uint32(0o022 + 0o050*(i%2))})
			for j := 0; j < each; j++ {
				fd, err := u.Openat(abi.AT_FDCWD, fmt.Sprintf("%s/f%d.%d", dir, i, j), abi.O_CREAT|abi.O_WRONLY, 0o666)
				if err != nil {
					errs <- err
					return
				}
				u.Close(fd)
				if err := u.Mkdirat(abi.AT_FDCWD, fmt.Sprintf("%s/d%d.%d", dir, i, j), 0o777); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 0; i < threads; i++ {
		mask := uint32(0o022 + 0o050*(i%2))
		for j := 0; j < each; j++ {
			wantStat(t, k, fmt.Sprintf("%s/f%d.%d", dir, i, j), abi.S_IFREG|0o666&^mask, uint32(2000+i), uint32(3000+i))
			wantStat(t, k, fmt.Sprintf("%s/d%d.%d", dir, i, j), abi.S_IFDIR|0o777&^mask, uint32(2000+i), uint32(3000+i))
		}
	}
}

// TestCredRamfs checks Kernel.As on the ramfs at "/".
func TestCredRamfs(t *testing.T) {
	k := bootRamfs(t, Config{})
	for _, d := range []string{"/c", "/cc"} {
		if err := k.Mkdirat(abi.AT_FDCWD, d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	checkCreds(t, k, "/c")
	checkCredsConcurrent(t, k, "/cc")
}

// TestAsAllocs checks that a thread costs one allocation (its handle),
// as lklfuse makes one per request.
func TestAsAllocs(t *testing.T) {
	k := bootRamfs(t, Config{})
	var sink *Kernel
	n := testing.AllocsPerRun(100, func() { sink = k.As(Cred{Uid: 1, Gid: 2, Umask: 0o022}) })
	if n != 1 || sink.system != k.system {
		t.Errorf("As: %v allocations, want 1", n)
	}
}
