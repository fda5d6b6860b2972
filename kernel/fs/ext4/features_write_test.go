package ext4_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// featureKernel is a kernel with one image mounted read-write at /mnt,
// and must, which fails the test on an error with the kernel's log.
type featureKernel struct {
	*kernel.Kernel
	t *testing.T
}

func bootFeatureImage(t *testing.T, img string) featureKernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{Now: func() abi.Timespec { return abi.Timespec{Sec: 1700000000} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	fk := featureKernel{k, t}
	_, err = k.AddDisk(img, kernel.DiskOptions{})
	fk.must("add disk", err)
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	fk.must("mount", k.Mount("/dev/vda", "/mnt", "ext4", 0, ""))
	return fk
}

func (k featureKernel) must(what string, err error) {
	k.t.Helper()
	if err != nil {
		k.t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
	}
}

// want checks that a call failed with errno want (0: succeeded).
func (k featureKernel) want(what string, err error, want abi.Errno) {
	k.t.Helper()
	if got := abi.ErrnoOf(err); got != want || (want == 0) != (err == nil) {
		k.t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// create makes a file holding data.
func (k featureKernel) create(p string, data string) error {
	fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_CREAT|abi.O_EXCL|abi.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer k.Close(fd)
	_, err = k.Write(fd, []byte(data))
	return err
}

// readFile returns a file's contents.
func (k featureKernel) readFile(p string) ([]byte, error) {
	fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer k.Close(fd)
	var all []byte
	buf := make([]byte, 1<<16)
	for {
		n, err := k.Read(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return all, nil
		}
		all = append(all, buf[:n]...)
	}
}

// fsckClean fails the test unless e2fsck -fn finds img clean.
func fsckClean(t *testing.T, img string) {
	t.Helper()
	testutil.Run(t, testutil.Need(t, "e2fsck")[0], "-fn", img)
}

func (k featureKernel) halt() {
	k.t.Helper()
	k.must("umount", k.Umount("/mnt", 0))
	k.must("halt", k.Halt())
}

// debugfs runs debugfs commands on img (writing with -w) and returns the
// output, without its banner and the echoed commands.
func debugfs(t *testing.T, img string, write bool, cmds ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", f, img}
	if write {
		args = append([]string{"-w"}, args...)
	}
	var out []string
	for _, l := range strings.Split(string(testutil.Run(t, testutil.Need(t, "debugfs")[0], args...)), "\n") {
		if !strings.HasPrefix(l, "debugfs") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// verityImage is an image with the verity feature holding /verity.bin, a
// verity file of verityData bytes made as ext4 stores one
// (Documentation/filesystems/fsverity.rst, "ext4"): past i_size, from the
// next 64 KiB boundary, blocks standing for the Merkle tree and the
// descriptor; EXT4_VERITY_FL and extents set. The host's kernel may lack
// CONFIG_FS_VERITY, so debugfs makes it.
const verityData = 100000

func verityImage(t *testing.T) (img string, data []byte) {
	mkfs := testutil.Need(t, "mkfs.ext4")[0]
	dir := t.TempDir()
	img = filepath.Join(dir, "img")
	testutil.Run(t, mkfs, "-q", "-F", "-O", "verity", img, "32M")
	data = make([]byte, verityData)
	for i := range data {
		data[i] = byte(i*13 + i>>10 + 1)
	}
	blob := append(bytes.Clone(data), make([]byte, 65536*2-verityData)...)
	blob = append(blob, bytes.Repeat([]byte{0xa5}, 3*4096)...)
	host := filepath.Join(dir, "blob")
	if err := os.WriteFile(host, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	debugfs(t, img, true, "write "+host+" verity.bin", fmt.Sprintf("sif verity.bin size %d", verityData),
		"sif verity.bin flags 0x180000")
	return img, data
}

// TestVerityWrites: on a verity image, a verity file stays as Linux keeps
// it: opening it for writing and truncating it are EPERM
// (fsverity_file_open, fsverity_prepare_setattr), while chmod, chown,
// xattrs, times, links and renames work and keep the blocks past i_size;
// unlinking it frees them all. Other files are written as usual.
func TestVerityWrites(t *testing.T) {
	img, data := verityImage(t)
	blocks := debugfs(t, img, false, "blocks verity.bin")
	if n := len(strings.Fields(blocks)); n < 35 {
		t.Fatalf("verity.bin maps %d blocks, want the 32 of the data and 3 past it:\n%s", n, blocks)
	}
	fsckClean(t, img)

	k := bootFeatureImage(t, img)
	for _, flags := range []int{abi.O_WRONLY, abi.O_RDWR, abi.O_RDONLY | abi.O_TRUNC, abi.O_WRONLY | abi.O_APPEND} {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/verity.bin", flags, 0)
		if err == nil {
			k.Close(fd)
		}
		k.want(fmt.Sprintf("open %#o", flags), err, abi.EPERM)
	}
	k.want("truncate", k.Truncate("/mnt/verity.bin", 0), abi.EPERM)
	k.want("truncate to its size", k.Truncate("/mnt/verity.bin", verityData), abi.EPERM)
	got, err := k.readFile("/mnt/verity.bin")
	k.must("read", err)
	if !bytes.Equal(got, data) {
		t.Errorf("verity.bin reads %d bytes, not its data", len(got))
	}
	k.must("chmod", k.Fchmodat(abi.AT_FDCWD, "/mnt/verity.bin", 0o600, 0))
	k.must("chown", k.Fchownat(abi.AT_FDCWD, "/mnt/verity.bin", 5, 6, 0))
	k.must("setxattr", k.Setxattr("/mnt/verity.bin", "user.v", []byte("kept"), 0))
	k.must("utimens", k.Utimensat(abi.AT_FDCWD, "/mnt/verity.bin", &[2]abi.Timespec{{Sec: 1}, {Sec: 2}}, 0))
	k.must("link", k.Linkat(abi.AT_FDCWD, "/mnt/verity.bin", abi.AT_FDCWD, "/mnt/hard", 0))
	k.must("rename", k.Renameat2(abi.AT_FDCWD, "/mnt/verity.bin", abi.AT_FDCWD, "/mnt/v2", 0))
	var stx abi.Statx
	k.must("statx", k.Statx(abi.AT_FDCWD, "/mnt/v2", 0, abi.STATX_BASIC_STATS, &stx))
	if stx.Attributes&abi.STATX_ATTR_VERITY == 0 || stx.Size != verityData || stx.Nlink != 2 || stx.Mode&0o7777 != 0o600 {
		t.Errorf("statx v2: attributes %#x size %d nlink %d mode %#o", stx.Attributes, stx.Size, stx.Nlink, stx.Mode)
	}
	k.must("create plain", k.create("/mnt/plain", "plain data"))
	k.must("truncate plain", k.Truncate("/mnt/plain", 5))
	k.halt()
	fsckClean(t, img)
	if after := debugfs(t, img, false, "blocks v2"); after != blocks {
		t.Errorf("blocks of the verity file changed:\nbefore %s\nafter  %s", blocks, after)
	}
	if s := debugfs(t, img, false, "stat v2"); !strings.Contains(s, "Flags: 0x180000") {
		t.Errorf("v2 lost EXT4_VERITY_FL:\n%s", s)
	}

	k = bootFeatureImage(t, img)
	k.must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/v2", 0))
	k.must("unlink hard", k.Unlinkat(abi.AT_FDCWD, "/mnt/hard", 0))
	k.halt()
	fsckClean(t, img)
	var cmds []string
	for _, b := range strings.Fields(blocks) {
		cmds = append(cmds, "testb "+b)
	}
	if out := debugfs(t, img, false, cmds...); strings.Contains(out, "marked in use") {
		t.Errorf("blocks of the unlinked verity file still in use:\n%s", out)
	}
}
