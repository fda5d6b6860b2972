package btrfs_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// fillHost mounts img read-write on the host with opts and runs fill on
// the mount point, then unmounts it (a commit: no log tree is left).
func fillHost(t testing.TB, img, opts string, fill func(mnt string)) {
	t.Helper()
	o := "rw"
	if opts != "" {
		o += "," + opts
	}
	mnt, umount := testutil.HostMount(t, img, o)
	fill(mnt)
	umount()
}

// sh runs a shell command line, failing the test when it fails.
func sh(t testing.TB, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-ec", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// text returns n bytes of compressible text.
func text(n int) []byte {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "line %d of a compressible file, %x\n", i, i*i)
	}
	return []byte(sb.String()[:n])
}

// random returns n pseudo-random bytes (an LCG seeded with seed).
func random(seed uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
	return b
}

// writeFile writes b to dir/name, making the directories above it.
func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fillData writes what a file's extents can be: inline files of many
// sizes, large compressible, random and mixed files (compressed extents
// and ones btrfs gives up compressing), sparse files, prealloc ranges
// (fallocate, written in part, past the size), reflinked copies
// (shared extents) overwritten in part, a directory of thousands of
// names with a third removed, hard links in several directories and
// enough in one for INODE_EXTREF items, many xattrs and a large one,
// files with the inode flags statx reports (chattr +c, +a, +i, +d).
func fillData(t testing.TB, mnt string) {
	d := filepath.Join(mnt, "data")
	for _, n := range []int{0, 1, 100, 2047, 2048, 3000, 4095, 4096, 4097, 8191, 65536, 131072, 131073, 200000, 1 << 20, 3<<20 + 17} {
		writeFile(t, filepath.Join(d, fmt.Sprintf("text-%d", n)), text(n))
		writeFile(t, filepath.Join(d, fmt.Sprintf("random-%d", n)), random(uint32(n), n))
		writeFile(t, filepath.Join(d, fmt.Sprintf("mixed-%d", n)), append(text(n/2), random(7, n-n/2)...))
		writeFile(t, filepath.Join(d, fmt.Sprintf("zeros-%d", n)), make([]byte, n))
	}
	for i := range 3000 {
		writeFile(t, filepath.Join(mnt, "many", fmt.Sprintf("%0*d-%s", 1+i%40, i, strings.Repeat("n", i%200))), []byte(fmt.Sprint(i)))
	}
	// Gaps in the directory's indexes, and names reused after.
	for i := 0; i < 3000; i += 3 {
		if err := os.Remove(filepath.Join(mnt, "many", fmt.Sprintf("%0*d-%s", 1+i%40, i, strings.Repeat("n", i%200)))); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(mnt, "many", "0-"), []byte("again"))
	// Hard links enough to need INODE_EXTREF items (the names do not
	// fit one INODE_REF item), and xattrs: many, and a large one.
	x := filepath.Join(mnt, "xattrs")
	writeFile(t, filepath.Join(x, "target"), text(3000))
	for i := range 150 {
		if err := os.Link(filepath.Join(x, "target"), filepath.Join(x, fmt.Sprintf("link-%03d-%s", i, strings.Repeat("l", 200)))); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(x, "many-xattrs"), nil)
	for i := range 100 {
		if err := unix.Setxattr(filepath.Join(x, "many-xattrs"), fmt.Sprintf("user.attr-%03d", i), []byte(strings.Repeat("v", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(x, "big-xattr"), nil)
	if err := unix.Setxattr(filepath.Join(x, "big-xattr"), "user.big", random(9, 3900), 0); err != nil {
		t.Fatal(err)
	}
	s := filepath.Join(mnt, "sparse")
	writeFile(t, filepath.Join(s, "keep"), nil)
	sh(t, fmt.Sprintf(`cd %s
printf head > holes; dd if=/dev/urandom of=holes bs=4096 seek=100 count=3 conv=notrunc 2>/dev/null; truncate -s 10M holes
truncate -s 300M huge; printf tail | dd of=huge bs=1 seek=200000000 conv=notrunc 2>/dev/null
fallocate -l 1M prealloc
fallocate -l 1M prealloc-part; printf 'written in the middle' | dd of=prealloc-part bs=1 seek=300000 conv=notrunc 2>/dev/null
printf 'short' > prealloc-keep; fallocate -n -o 4096 -l 1M prealloc-keep
dd if=/dev/urandom of=punched bs=64k count=8 2>/dev/null; fallocate -p -o 65536 -l 131072 punched
`, s))
	r := filepath.Join(mnt, "reflink")
	writeFile(t, filepath.Join(r, "orig"), append(text(1<<20), random(3, 1<<20)...))
	sh(t, fmt.Sprintf(`cd %s
cp --reflink=always orig copy
cp --reflink=always orig copy2; printf 'overwritten' | dd of=copy2 bs=1 seek=500000 conv=notrunc 2>/dev/null
dd if=orig of=part bs=4096 skip=10 count=100 2>/dev/null
`, r))
	if _, err := exec.LookPath("chattr"); err == nil {
		// The inode flags statx reports (and +c's compression).
		a := filepath.Join(mnt, "attrs")
		for _, f := range []string{"compress", "append", "immutable", "nodump"} {
			writeFile(t, filepath.Join(a, f), nil)
		}
		sh(t, fmt.Sprintf(`cd %s
chattr +c compress; head -c 200000 /dev/zero > compress
chattr +a append; chattr +i immutable; chattr +d nodump
`, a))
	}
	l := filepath.Join(mnt, "links")
	writeFile(t, filepath.Join(l, "a", "file"), text(5000))
	for i := range 5 {
		if err := os.MkdirAll(filepath.Join(l, fmt.Sprint("d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(l, "a", "file"), filepath.Join(l, fmt.Sprint("d", i), "link")); err != nil {
			t.Fatal(err)
		}
	}
}

// fillSubvols makes subvolumes (one nested), a snapshot of one (which
// shows the nested one as an empty directory) and a read-only snapshot.
func fillSubvols(t testing.TB, mnt string) {
	sh(t, fmt.Sprintf(`cd %s
btrfs -q subvolume create sub1
mkdir sub1/dir; printf 'in sub1' > sub1/dir/file; ln sub1/dir/file sub1/link
btrfs -q subvolume create sub1/nested
printf 'nested' > sub1/nested/file
mkdir -p deep/er; btrfs -q subvolume create deep/er/sub2
printf 'sub2' > deep/er/sub2/f
btrfs -q subvolume snapshot sub1 snap1
printf 'after the snapshot' > sub1/dir/new
btrfs -q subvolume snapshot -r deep/er/sub2 rosnap
`, mnt))
}

func TestFilledAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs", "fallocate")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	total := 0
	for _, c := range []struct {
		name, opts string
		mkfs       []string
	}{
		{"plain", "", nil},
		{"zlib", "compress=zlib", nil},
		{"lzo", "compress=lzo", []string{"-n", "4096"}},
		{"zstd", "compress=zstd", []string{"--csum", "xxhash"}},
		{"zstd-force", "compress-force=zstd:15", []string{"-m", "single", "-n", "65536"}},
		{"lzo-force-holes", "compress-force=lzo", []string{"-O", "^no-holes"}},
		{"zlib-force-nodesize-64k", "compress-force=zlib:9", []string{"-n", "65536", "--csum", "blake2"}},
		{"max-inline-0", "max_inline=0", []string{"--csum", "sha256"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkfsBtrfs(t, c.mkfs...)
			fillHost(t, img, c.opts, func(mnt string) {
				testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "tree"))
				fillData(t, mnt)
				fillSubvols(t, mnt)
			})
			total += compare(t, c.name, img, "")
			checkDirents(t, img, "")
		})
	}
	t.Logf("%d entries compared in all", total)
}

func TestSubvolOptions(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs")
	testutil.NeedLoop(t)
	img := mkfsBtrfs(t)
	fillHost(t, img, "compress=zstd", func(mnt string) {
		fillSubvols(t, mnt)
		writeFile(t, filepath.Join(mnt, "top-file"), text(100))
	})
	for _, opts := range []string{"", "subvol=sub1", "subvol=/deep/er/sub2", "subvol=snap1", "subvolid=5", "subvolid=256", "subvol=sub1/nested", "subvol=rosnap", "subvol=sub1,subvolid=256"} {
		t.Run(opts, func(t *testing.T) {
			compare(t, opts, img, opts)
			checkDirents(t, img, opts)
		})
	}
	// What the host refuses, the library kernel refuses with the errno.
	for _, c := range []struct {
		opts string
		want abi.Errno
	}{
		{"subvol=missing", abi.ENOENT},
		{"subvol=deep/er", abi.EINVAL},
		{"subvol=sub1,subvolid=5", abi.EINVAL},
		{"subvolid=999", abi.ENOENT},
		{"nosuchoption", abi.EINVAL},
	} {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop,ro,"+c.opts, img, mnt).CombinedOutput(); err == nil {
			exec.Command("umount", mnt).Run()
			t.Errorf("the host mounts -o %s", c.opts)
		} else {
			t.Logf("host: -o %s: %s", c.opts, strings.TrimSpace(string(out)))
		}
		if err := kerneltest.MountErr(t, img, "btrfs", abi.MS_RDONLY, c.opts); !errors.Is(err, c.want) {
			t.Errorf("-o %s: %v, want %v", c.opts, err, c.want)
		}
	}
	// A default subvolume: what a mount with no option shows.
	fillHost(t, img, "", func(mnt string) {
		testutil.Run(t, "btrfs", "subvolume", "set-default", filepath.Join(mnt, "sub1"))
	})
	for _, opts := range []string{"", "subvolid=5", "subvol=/"} {
		t.Run("default-"+opts, func(t *testing.T) {
			compare(t, "set-default "+opts, img, opts)
		})
	}
}

// The zoned layout on a file (emulated zones: the superblock where it
// always is, the chunks in whole zones, data written sequentially in each)
// reads as any other, as the host reads it.
func TestZonedAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	img := filepath.Join(t.TempDir(), "zoned.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// mkfs.btrfs's least for a zoned device: 12 zones of 256 MiB.
	if err := os.Truncate(img, 4<<30); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", "-O", "zoned", img)
	fillHost(t, img, "compress=zstd", func(mnt string) {
		testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "tree"))
		fillSubvols(t, mnt)
		writeFile(t, filepath.Join(mnt, "text"), text(3<<20))
		writeFile(t, filepath.Join(mnt, "random"), random(3, 3<<20))
		sh(t, "cd "+mnt+" && cp --reflink=always random random2 && truncate -s 100M sparse && echo end >> sparse")
	})
	compare(t, "zoned", img, "")
	checkDirents(t, img, "")
}
