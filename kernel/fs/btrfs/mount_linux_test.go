package btrfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// A mount asked read-write is served read-only, as the driver has no
// write path: writes fail with EROFS, and the image is not changed.
func TestReadWriteRequest(t *testing.T) {
	img := mkfsBtrfs(t, "--rootdir", t.TempDir())
	before := testutil.FileSum(t, img)
	kerneltest.WithMount(t, img, "btrfs", 0, "", func(k *kernel.Kernel, must func(string, error)) {
		if _, err := k.Openat(abi.AT_FDCWD, "/mnt/new", abi.O_WRONLY|abi.O_CREAT, 0o644); !errors.Is(err, abi.EROFS) {
			t.Errorf("create on a read-write request: %v, want EROFS", err)
		}
		var st abi.Statfs
		must("statfs", k.Statfs("/mnt", &st))
		if st.Type != disk.SuperMagic || st.Bsize != 4096 || st.Blocks != imageSize/4096 || st.Namelen != 255 {
			t.Errorf("statfs %+v", st)
		}
	})
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}

// A byte of file data changed on the device fails the file's read with
// EIO, as the host's read fails: its sector's checksum differs.
func TestDataChecksum(t *testing.T) {
	testutil.NeedLoop(t)
	src := t.TempDir()
	data := random(11, 65536)
	writeFile(t, filepath.Join(src, "file"), data)
	writeFile(t, filepath.Join(src, "other"), text(10000))
	img := mkfsBtrfs(t, "--rootdir", src)
	damageData(t, img, data, 5000)
	mnt, umount := testutil.HostMount(t, img, "ro")
	if _, err := os.ReadFile(filepath.Join(mnt, "file")); !errors.Is(err, syscall.EIO) {
		t.Errorf("the host reads the damaged file: %v", err)
	}
	umount()
	kerneltest.WithMount(t, img, "btrfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/file", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		buf := make([]byte, 65536)
		if _, err := k.Read(fd, buf); !errors.Is(err, abi.EIO) {
			t.Errorf("read of the damaged file: %v, want EIO", err)
		}
		ofd, err := k.Openat(abi.AT_FDCWD, "/mnt/other", abi.O_RDONLY, 0)
		must("open other", err)
		defer k.Close(ofd)
		if n, err := k.Read(ofd, buf); err != nil || !bytes.Equal(buf[:n], text(10000)) {
			t.Errorf("read of the other file: %d bytes, %v", n, err)
		}
	})
	// Sendfile verifies the sectors before it sends them: EIO with
	// nothing sent from the damaged one; from the sector after it, the
	// rest goes.
	kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "btrfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/file", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if n, err := k.Sendfile(out, fd, 65536); n != 0 || !errors.Is(err, abi.EIO) {
			t.Errorf("sendfile of the damaged file: %d bytes, %v; want 0, EIO", n, err)
		}
		_, err = k.Lseek(fd, 8192, abi.SEEK_SET)
		must("lseek", err)
		n, err := k.Sendfile(out, fd, 65536)
		must("sendfile after the damaged sector", err)
		got, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		if n != 65536-8192 || !bytes.Equal(got, data[8192:]) {
			t.Errorf("sendfile after the damaged sector: %d bytes, %d in the file, want the file's last %d", n, len(got), 65536-8192)
		}
	})
}

// damageData inverts byte off of data, a file's, where the image holds
// it (found by its first 4 KiB).
func damageData(t *testing.T, img string, data []byte, off int) {
	t.Helper()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(raw, data[:min(len(data), 4096)])
	if at < 0 {
		t.Fatal("the file's data is not in the image")
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{^data[off]}, int64(at+off)); err != nil {
		t.Fatal(err)
	}
}

// Offsets past 4 GiB: a sparse file of 4.1 GiB with data after 4 GiB,
// compressed and not, and a prealloc range there, reads as the host's.
func TestLargeOffsets(t *testing.T) {
	testutil.Need(t, "fallocate")
	testutil.NeedLoop(t)
	img := mkfsBtrfs(t)
	fillHost(t, img, "compress=zstd", func(mnt string) {
		sh(t, "cd "+mnt+`
truncate -s 4200M big
dd if=/dev/urandom of=big bs=4096 seek=1048577 count=5 conv=notrunc 2>/dev/null
yes 'compressible line' | head -c 300000 | dd of=big bs=4096 seek=1060000 conv=notrunc 2>/dev/null
fallocate -n -o 4362076160 -l 1M big
`)
	})
	compare(t, "large offsets", img, "")
}
