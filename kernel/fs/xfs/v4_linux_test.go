package xfs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// This host's XFS mounts no v4 filesystem (CONFIG_XFS_SUPPORT_V4 is
// off), so v4 images are judged by a v5 image of the same content:
// mkfs.xfs -p builds both from one prototype file (directories in every
// form, files of many sizes and one of many extents, symlinks inline
// and remote, devices, FIFOs, owners and modes), the host mounts the v5
// one, and the library kernel's view of each v4 image must be the
// host's view of it but for the times, which mkfs stamps as it goes.

// protoTree writes a prototype file (mkfs.xfs's -p) and the files it
// names into dir, and returns its path.
func protoTree(t testing.TB, dir string) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	file := func(name string, size int, mode string, uid, gid int) {
		p := filepath.Join(dir, "data-"+name)
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*31 + len(name))
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s -%s %d %d %s\n", name, mode, uid, gid, p)
	}
	for i, n := range []int{0, 1, 100, 4095, 4096, 4097, 65536, 1 << 20, 3<<20 + 17} {
		file(fmt.Sprintf("size-%d", n), n, "--644", i*1000, i)
	}
	file("setuid", 10, "u-4755", 0, 0)
	file("setgid", 10, "-g2750", 1, 2)
	for _, n := range []int{3, 40, 400, 5000} {
		fmt.Fprintf(&sb, "dir-%d d--755 0 0\n", n)
		for i := range n {
			fmt.Fprintf(&sb, "entry-%d-%s ---600 %d 0 /dev/null\n", i, strings.Repeat("z", i%29), i%5)
		}
		sb.WriteString("$\n")
	}
	sb.WriteString("special d--700 0 0\n")
	sb.WriteString("null c--666 0 0 1 3\nsda1 b--660 0 6 8 1\nbig c--600 0 0 300 70000\nfifo p--640 5 5\n")
	sb.WriteString("short l--777 0 0 target\n")
	// (mkfs.xfs 6.1 writes a remote symlink's blocks without their v5
	// header: the v5 oracle could not read one. 200 bytes stay inline
	// in a 512-byte v5 inode and go to a block in a 256-byte v4 one.)
	fmt.Fprintf(&sb, "long l--777 0 0 %s\n", strings.Repeat("long/", 39)+"end..")
	sb.WriteString("$\n$\n")
	proto := filepath.Join(dir, "proto")
	if err := os.WriteFile(proto, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return proto
}

func TestReadV4(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	proto := protoTree(t, t.TempDir())
	v5 := mkfsXFS(t, "-p", proto)
	want := testutil.LoopView(t, v5)
	opts := compareOptions()
	opts.Ignore = []string{"mtime"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"v4", []string{"-m", "crc=0"}},
		{"v4-noftype", []string{"-m", "crc=0", "-n", "ftype=0"}},
		{"v4-1k-blocks", []string{"-m", "crc=0", "-b", "size=1024"}},
		{"v4-dirblk-16k", []string{"-m", "crc=0", "-n", "size=16384"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkfsXFS(t, append(c.args, "-p", proto)...)
			if hostMounts(t, img) {
				// A host with v4 support is the better oracle.
				testutil.ExpectSame(t, c.name+" (host)", testutil.LoopView(t, img), kernelView(t, img), compareOptions())
			}
			testutil.ExpectSame(t, c.name, want, kernelView(t, img), opts)
			t.Logf("%s: %d entries compared", c.name, len(want))
		})
	}
}
