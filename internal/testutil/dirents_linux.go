package testutil

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/kernel/abi"
)

// HostDirents lists dir as the host's getdents64 gives it, "." and ".."
// included, in its order: what a driver's readdir order and d_off are
// compared with.
func HostDirents(t testing.TB, dir string) []abi.Dirent {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var ds []abi.Dirent
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return ds
		}
		ds = abi.ParseDirents(buf[:n], ds)
	}
}
