package btrfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// exportSent exports the image's tree as fs2tar does to a file, from a
// read-only disk: regular extents go by sendfile (vfs.FileSender), the
// rest by read(2). It returns the tree and how many bytes the archive has.
func exportSent(t *testing.T, img, opts string) (testutil.Tree, int64) {
	t.Helper()
	var tree testutil.Tree
	var size int64
	kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "btrfs", abi.MS_RDONLY, opts, func(k *kernel.Kernel, must func(string, error)) {
		out, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		must("export", archive.Export(k, "/mnt", out, archive.Options{Strict: true}))
		if size, err = out.Seek(0, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := out.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		tree, err = testutil.ScanTar(out)
		must("scan", err)
	})
	return tree, size
}

// Files of every extent shape (inline, compressed, holes, prealloc,
// reflinked, NODATASUM, several MiB) exported to a file with sendfile,
// and sent one by one from unaligned offsets, must be what the host's
// mount reads.
func TestSendfile(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "fallocate", "chattr")
	testutil.NeedLoop(t)
	total := 0
	for _, c := range []struct {
		name, opts string
		mkfs       []string
	}{
		{"plain-dup-data", "", []string{"-d", "dup", "-m", "dup"}},
		{"zstd-xxhash", "compress=zstd", []string{"--csum", "xxhash"}},
		{"sha256-4k", "", []string{"--csum", "sha256", "-n", "4096"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkfsBtrfs(t, c.mkfs...)
			fillHost(t, img, c.opts, func(mnt string) {
				fillData(t, mnt)
				sh(t, "cd "+mnt+`
mkdir nocow; chattr +C nocow
head -c 3000000 /dev/urandom > nocow/file
for i in 1 2 3 4 5 6 7 8; do head -c 200000 /dev/urandom; yes line | head -c 100000; done > big
`)
			})
			want, _ := hostView(t, img, "")
			got, size := exportSent(t, img, "")
			testutil.ExpectSame(t, c.name, want, got, compareOptions())
			total += len(want)
			t.Logf("%s: %d entries compared, an archive of %d bytes", c.name, len(want), size)
			sendEach(t, img, []string{"big", "nocow/file", "data/random-1048576", "data/mixed-3145745", "reflink/copy2", "sparse/holes", "sparse/prealloc-part", "sparse/punched", "data/text-4097"})
		})
	}
	t.Logf("%d entries compared in all", total)
}

// sendEach sends each file from a few offsets with sendfile (read(2)
// where nothing can be sent) and compares the bytes with the host's.
func sendEach(t *testing.T, img string, files []string) {
	t.Helper()
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "btrfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		sent := int64(0)
		for _, name := range files {
			want, err := os.ReadFile(filepath.Join(mnt, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, from := range []int64{0, 1000, 4096 + 17, int64(len(want)) / 2} {
				from = min(from, int64(len(want)))
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_RDONLY, 0)
				must("open", err)
				_, err = k.Lseek(fd, from, abi.SEEK_SET)
				must("lseek", err)
				out, err := os.Create(filepath.Join(t.TempDir(), "out"))
				if err != nil {
					t.Fatal(err)
				}
				n, err := kerneltest.SendfileAll(k, fd, out)
				must("sendfile "+name, err)
				sent += n
				k.Close(fd)
				got, err := os.ReadFile(out.Name())
				if err != nil {
					t.Fatal(err)
				}
				out.Close()
				if !bytes.Equal(got, want[from:]) {
					t.Errorf("%s from %d: sent %d bytes differing from the host's %d", name, from, len(got), len(want)-int(from))
				}
			}
		}
		if sent == 0 {
			t.Error("nothing sent")
		}
		t.Logf("%d files, %d bytes sent", len(files), sent)
	})
}
