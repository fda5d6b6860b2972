package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// writeTestTree writes testTree (see check_test.go) under dir on the host.
// abslink points to mnt/dir/a; withLoop adds the self-referencing "loop".
func writeTestTree(t *testing.T, dir, mnt string, withLoop bool) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string, data []byte) {
		must(os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	for _, d := range []string{"dir", "empty", "many"} {
		must(os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	file("hello.txt", []byte(helloData))
	file("big", bigData())
	file("dir/a", []byte("A"))
	file("dir/b", []byte("B"))
	for i := 0; i < 300; i++ {
		file(fmt.Sprintf("many/entry-with-a-longish-name-%03d", i), []byte(fmt.Sprint(i)))
	}
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	must(f.Truncate(5 * 4096))
	_, err = f.WriteAt([]byte("data"), 2*4096)
	must(err)
	must(f.Close())
	must(os.Symlink("hello.txt", filepath.Join(dir, "link")))
	must(os.Symlink("dir", filepath.Join(dir, "dirlink")))
	must(os.Symlink(mnt+"/dir/a", filepath.Join(dir, "abslink")))
	if withLoop {
		must(os.Symlink("loop", filepath.Join(dir, "loop")))
	}
}

// makeImage builds an ext4 image of the test tree with mkfs.ext4 -d and
// sets the xattrs of hello.txt with debugfs.
func makeImage(t *testing.T, mnt string, withLoop bool) string {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestTree(t, root, mnt, withLoop)
	img := filepath.Join(tmp, "ext4.img")
	testutil.Run(t, tools[0], "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-d", root, img, "16M")
	testutil.Run(t, tools[1], "-w", "-R", "ea_set /hello.txt user.a alpha", img)
	testutil.Run(t, tools[1], "-w", "-R", "ea_set /hello.txt user.long "+strings.Repeat("x", 100), img)
	return img
}

// TestBoot is the boot test, as LKL's: boot the kernel, attach ext4 images
// made by mkfs.ext4 read-only, mount them, and check every syscall and its
// errno cases against the real virtio-blk, block layer and ext4 driver.
func TestBoot(t *testing.T) {
	img := makeImage(t, "/mnt/vda", true)
	clean := makeImage(t, "/mnt/vdb", false)
	before, beforeClean := testutil.FileSum(t, img), testutil.FileSum(t, clean)

	var log bytes.Buffer
	k, err := Boot(Config{Memory: 16 << 20, Printk: &log})
	if err != nil {
		t.Fatal(err)
	}
	halted := false
	defer func() {
		if !halted {
			k.Halt()
		}
	}()
	if _, err := k.AddDisk(filepath.Join(t.TempDir(), "missing.img"), DiskOptions{ReadOnly: true}); err == nil {
		t.Errorf("AddDisk of a missing file worked")
	}
	for i, path := range []string{img, clean} {
		name, err := k.AddDisk(path, DiskOptions{ReadOnly: true})
		if want := []string{"vda", "vdb"}[i]; err != nil || name != want {
			t.Fatalf("AddDisk: %q %v, want %s", name, err, want)
		}
	}
	if parts, err := k.Partitions("vda"); err != nil || len(parts) != 0 {
		t.Errorf("Partitions(vda): %v %v", parts, err)
	}
	if label, parts, err := k.PartitionTable("vda"); label != "" || len(parts) != 0 || err != nil {
		t.Errorf("PartitionTable(vda): %q %v %v", label, parts, err)
	}
	if _, _, err := k.PartitionTable("vdz"); err == nil {
		t.Error("PartitionTable(vdz): no error")
	}
	if got := k.Filesystems(); !slices.Equal(got, []string{"ext4", "vfat", "msdos", "squashfs", "erofs", "iso9660", "btrfs", "xfs"}) {
		t.Errorf("Filesystems: %v", got)
	}
	if typ, err := k.Probe("vda"); err != nil || typ != "ext4" {
		t.Errorf("Probe(vda): %q %v", typ, err)
	}
	// No MS_RDONLY: the write-protected disk makes the mount read-only.
	mnt, err := k.MountDev("vda", "", 0, "")
	if err != nil {
		t.Fatalf("MountDev: %v\n%s", err, k.Dmesg())
	}
	cleanMnt, err := k.MountDev("vdb", "ext4", abi.MS_RDONLY, "")
	if err != nil {
		t.Fatalf("MountDev vdb: %v", err)
	}
	wantErr(t, "mounting vda again", k.Mount("/dev/vda", "/mnt", "", 0, ""), abi.EBUSY)

	checkAll(t, &env{k: k, mnt: mnt, clean: cleanMnt, dev: abi.Makedev(VirtblkMajor, 0), btime: true, xattrs: true})

	// umount: EBUSY with an open file, then fine.
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/dir/a", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "umount with an open file", k.Umount(mnt, 0), abi.EBUSY)
	wantErr(t, "umount of a directory", k.Umount(mnt+"/dir", 0), abi.EINVAL)
	k.Close(fd)
	if err := k.Umount(mnt, 0); err != nil {
		t.Errorf("umount: %v", err)
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, mnt+"/hello.txt", &st, 0); err == nil {
		t.Errorf("hello.txt still there after umount")
	}
	// Mount again through mount(2) with an explicit type.
	if err := k.Mount("/dev/vda", mnt, "ext4", abi.MS_RDONLY, ""); err != nil {
		t.Errorf("mount again: %v", err)
	}

	halted = true
	if err := k.Halt(); err != nil {
		t.Errorf("Halt: %v", err)
	}
	if testutil.FileSum(t, img) != before || testutil.FileSum(t, clean) != beforeClean {
		t.Errorf("a read-only disk's image file changed")
	}
	dmesg := log.String()
	for _, want := range []string{"vda", "VFS: mounted /dev/vda on /mnt/vda type ext4 (ro)", "System halted"} {
		if !strings.Contains(dmesg, want) {
			t.Errorf("log lacks %q:\n%s", want, dmesg)
		}
	}
	if testing.Verbose() {
		t.Logf("kernel log:\n%s", dmesg)
	}
}

// TestBootPartitioned boots on an MBR disk made by sfdisk: vda1 holds an
// ext4 filesystem (mkfs.ext4 -E offset), vda2 nothing.
func TestBootPartitioned(t *testing.T) {
	tools := testutil.Need(t, "sfdisk", "mkfs.ext4")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "f"), []byte("partitioned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(tmp, "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 40<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tools[0], "-q", img)
	cmd.Stdin = strings.NewReader("start=2048, size=32768, type=83\nstart=34816, size=8192, type=83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	testutil.Run(t, tools[1], "-q", "-F", "-E", "offset=1048576", "-d", root, img, "16M")
	before := testutil.FileSum(t, img)

	k, err := Boot(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, DiskOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	parts, err := k.Partitions("vda")
	if err != nil || !slices.Equal(parts, []string{"vda1", "vda2"}) {
		t.Fatalf("Partitions: %v %v\n%s", parts, err, k.Dmesg())
	}
	if label, parts, err := k.PartitionTable("/dev/vda"); label != "dos" || len(parts) != 2 || err != nil {
		t.Errorf("PartitionTable: %q %v %v", label, parts, err)
	}
	if typ, err := k.Probe("/dev/vda1"); err != nil || typ != "ext4" {
		t.Errorf("Probe(vda1): %q %v", typ, err)
	}
	if _, err := k.Probe("vda2"); !errors.Is(err, abi.ENODEV) {
		t.Errorf("Probe(vda2): %v", err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt/x", 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "mount of vda2", k.Mount("/dev/vda2", "/mnt/x", "", abi.MS_RDONLY, ""), abi.ENODEV)
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/dev/vda1", &st, 0); err != nil || st.Mode&abi.S_IFMT != abi.S_IFBLK || st.Rdev != abi.Makedev(254, 1) {
		t.Errorf("/dev/vda1: %+v %v", st, err)
	}
	mnt, err := k.MountDev("vda1", "", abi.MS_RDONLY, "")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/sub/f", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := k.Read(fd, buf); err != nil || string(buf[:n]) != "partitioned\n" {
		t.Errorf("read: %q %v", buf[:n], err)
	}
	if err := k.Fstat(fd, &st); err != nil || st.Dev != abi.Makedev(254, 1) {
		t.Errorf("st_dev: %d:%d %v", abi.Major(st.Dev), abi.Minor(st.Dev), err)
	}
	k.Close(fd)
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if testutil.FileSum(t, img) != before {
		t.Errorf("the image changed")
	}
}

// TestFilesystemTable: the types a kernel registers are the table's, by
// name and alias, and FilesystemType picks one by either, refusing an
// unknown name with the list.
func TestFilesystemTable(t *testing.T) {
	k, err := Boot(Config{Memory: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	var names []string
	for _, n := range FilesystemNames() {
		names = append(names, n.Name)
		for _, a := range append([]string{n.Name}, n.Aliases...) {
			if got, err := k.FilesystemType(a); err != nil || got != n.Name {
				t.Errorf("FilesystemType(%q): %q %v, want %q", a, got, err, n.Name)
			}
		}
	}
	if got := k.Filesystems(); !slices.Equal(got, names) || !slices.Contains(names, "ext4") {
		t.Errorf("Filesystems: %v, table %v", got, names)
	}
	if got := FilesystemTypesHelp(); got != "ext4, ext2, ext3, vfat, fat, msdos, squashfs, erofs, iso9660, btrfs, xfs" {
		t.Errorf("FilesystemTypesHelp: %q", got)
	}
	_, err = k.FilesystemType("zfs")
	if !errors.Is(err, abi.ENODEV) || !strings.Contains(err.Error(), `"zfs" (this kernel reads ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs)`) {
		t.Errorf("FilesystemType(zfs): %v", err)
	}
}
