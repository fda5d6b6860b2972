//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

// TestTar2fsFeatureMatrix is tar2fs's part of the feature matrix: the
// test tree's archive goes into the smallest image (with 16 MiB free)
// lklimg's mkfs makes with each feature of testutil.Ext4Features: the image has the features,
// e2fsck -fn finds nothing, and the host kernel (fs2tar where it cannot
// mount the image) shows the source tree. What our mkfs cannot make yet
// is said in the log.
func TestTar2fsFeatureMatrix(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	for _, f := range testutil.Ext4Features() {
		t.Run(f.Name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			// Room for a journal, without which mke2fs drops the orphan
			// file (ext2fs_default_journal_size: none under 2048 blocks).
			size := []string{"--free", "16M"}
			a := append(append(append([]string{"tar2fs", "-q", "-E", "root_owner=0:0"}, size...), f.Opts...), archive, img)
			r := lklimg(t, nil, nil, a...)
			if r.code == 2 && regexp.MustCompile(`EOPNOTSUPP|flag provided but not defined`).MatchString(r.stderr) {
				t.Logf("%s: lklimg's mkfs cannot make it yet: %s", f.Name, strings.SplitN(r.stderr, "\n", 2)[0])
				return
			}
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%q: exit %d\n%s", a, r.code, r.stderr)
			}
			f.CheckFeatures(t, img)
			testutil.E2fsckClean(t, img)
			view := testutil.LoopView
			if !f.LogHostView(t, false, "compared through fs2tar") {
				view = fs2tarView
			}
			opts := testutil.TreeArchiveOptions()
			opts.HoleUnit = f.HoleUnit()
			testutil.ExpectSame(t, "source vs image", want, view(t, img), opts)
		})
	}
}

func lklimg(t *testing.T, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(lklimgBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	return runCmd(t, cmd)
}

// TestTar2fs makes images with the command: a fixed size and the
// smallest that fits, from a file and from stdin, compressed or not;
// each is clean for e2fsck, holds the source tree as the host kernel
// sees it, and with SOURCE_DATE_EPOCH runs on the same input bytes give
// the same image, from a file or stdin, and other bytes another UUID.
func TestTar2fs(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	dir := t.TempDir()
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}

	sized := filepath.Join(dir, "sized.img")
	if r := lklimg(t, nil, nil, "tar2fs", "-q", "-s", "128M", "-L", "root", archive, sized); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs -s: exit %d\n%s", r.code, r.stderr)
	}
	if fi, err := os.Stat(sized); err != nil || fi.Size() != 128<<20 {
		t.Errorf("-s 128M: %v %v", fi, err)
	}
	testutil.ExpectSame(t, "source vs -s image", want, testutil.FsckView(t, sized), testutil.TreeArchiveOptions())

	small := filepath.Join(dir, "small.img")
	gz := testutil.Compressed(t, archive, "gzip")
	if r := lklimg(t, epoch, nil, "tar2fs", "-q", gz, small); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs: exit %d\n%s", r.code, r.stderr)
	}
	testutil.ExpectSame(t, "source vs smallest image", want, testutil.FsckView(t, small), testutil.TreeArchiveOptions())
	fi, err := os.Stat(small)
	if err != nil {
		t.Fatal(err)
	}
	var data int64
	for _, e := range want {
		data += e.Size
	}
	if fi.Size() > data+64<<20 {
		t.Errorf("smallest image: %d bytes for %d bytes of files", fi.Size(), data)
	}
	// A journal as mke2fs gives the image's size: none under 2048
	// blocks (ext2fs_default_journal_size).
	dumpe2fs := testutil.Need(t, "dumpe2fs")[0]
	out := string(testutil.Run(t, dumpe2fs, "-h", small))
	_, count, _ := strings.Cut(out, "Block count:")
	blocks, _ := strconv.Atoi(strings.Fields(count + " 0")[0])
	if journal := strings.Contains(out, "has_journal"); blocks == 0 || journal != (blocks >= 2048+1024) {
		t.Errorf("smallest image: %d blocks, journal %t:\n%s", blocks, journal, out)
	}

	// Reproducible: the same input from stdin, twice.
	for i, name := range []string{"repro1.img", "repro2.img"} {
		in, err := os.Open(gz)
		if err != nil {
			t.Fatal(err)
		}
		r := lklimg(t, epoch, in, "tar2fs", "-q", "-", filepath.Join(dir, name))
		in.Close()
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "repro1.img"))
	b, _ := os.ReadFile(filepath.Join(dir, "repro2.img"))
	c, _ := os.ReadFile(small)
	if len(a) == 0 || !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Errorf("runs with SOURCE_DATE_EPOCH on the same bytes differ (%d and %d bytes from stdin, %d from the file)",
			len(a), len(b), len(c))
	}
	// The input's bytes make the UUID: the same tree uncompressed is
	// another input; the hash seed, from the parameters, is the same.
	plain := filepath.Join(dir, "plain.img")
	if r := lklimg(t, epoch, nil, "tar2fs", "-q", archive, plain); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs: exit %d\n%s", r.code, r.stderr)
	}
	d, _ := os.ReadFile(plain)
	if len(d) < 0x400+0x100 || bytes.Equal(d[0x468:0x478], a[0x468:0x478]) || !bytes.Equal(d[0x4EC:0x4FC], a[0x4EC:0x4FC]) {
		t.Errorf("another input: the same UUID, or another hash seed")
	}
}

// TestTar2fsWhiteouts: --whiteouts overlay through the command.
func TestTar2fsWhiteouts(t *testing.T) {
	src := t.TempDir()
	for p, data := range map[string]string{"etc/.wh.gone": "", "opq/.wh..wh..opq": "", "opq/kept": "k"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(t.TempDir(), "layer.tar")
	testutil.Run(t, tarPath, "-cf", archive, "-C", src, ".")
	img := filepath.Join(t.TempDir(), "img")
	if r := lklimg(t, nil, nil, "tar2fs", "-q", "--whiteouts", "overlay", archive, img); r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got := testutil.FsckView(t, img)
	if e := got["etc/gone"]; e == nil || e.Type != testutil.TypeChar || e.RdevMajor != 0 || e.RdevMinor != 0 {
		t.Errorf("etc/gone: %+v", e)
	}
	if e := got["opq"]; e == nil || string(e.Xattrs["trusted.overlay.opaque"]) != "y" || got["opq/.wh..wh..opq"] != nil {
		t.Errorf("opq: %+v", e)
	}
}

// TestTar2fsUsage: flag errors are said before anything is written, with
// exit status 2.
func TestTar2fsUsage(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-t", "xfs", "a.tar", img}, "-t xfs: no mkfs for xfs yet (mkfs makes ext4, ext3, ext2, vfat, msdos, squashfs, erofs)"},
		{nil, []string{"-s", "12Q", "a.tar", img}, "-s 12Q: not a size"},
		{nil, []string{"-s", "1G", "--free", "1M", "a.tar", img}, "--free is for the smallest image"},
		{nil, []string{"-N", "100", "a.tar", img}, "-N needs -s"},
		{nil, []string{"-b", "3000", "a.tar", img}, "-b 3000: invalid block size (1024, 2048, 4096 or 65536)"},
		{nil, []string{"-E", "stride=4", "a.tar", img}, "-E stride=4: unknown extended option"},
		{nil, []string{"-E", "hash_seed=xyz", "a.tar", img}, "-E hash_seed=xyz: could not parse UUID"},
		{nil, []string{"--whiteouts", "aufs", "a.tar", img}, "--whiteouts aufs: the mode is overlay"},
		{[]string{"SOURCE_DATE_EPOCH=soon"}, []string{"a.tar", img}, "SOURCE_DATE_EPOCH=soon: not a time ext4 stores"},
		{nil, []string{"-L", "a-label-of-17-byt", "a.tar", img}, "-L \"a-label-of-17-byt\": a label has 16 bytes at most"},
		{nil, []string{"--timestamp", "soon", "a.tar", img}, "--timestamp soon: not a time ext4 stores"},
		{nil, []string{"-G", "3", "a.tar", img}, "-G 3: flex_bg size must be a power of 2"},
		{nil, []string{"-J", "size=x", "a.tar", img}, "-J size=x: only size=MiB is supported"},
		{nil, []string{"-U", "xyz", "a.tar", img}, "-U xyz: could not parse UUID"},
		{nil, []string{"only-one"}, "usage: lklimg tar2fs"},
	} {
		r := lklimg(t, c.env, nil, append([]string{"tar2fs"}, c.args...)...)
		if r.code != exitImage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("%q: the image was made", c.args)
		}
	}
	// A missing input is said before the image is made.
	if _, err := e2fsprogs.DefaultMkfsParams(64<<20, "ext4"); err == nil {
		r := lklimg(t, nil, nil, "tar2fs", filepath.Join(dir, "missing.tar"), img)
		if r.code != exitImage || !strings.Contains(r.stderr, "missing.tar: no such file or directory") {
			t.Errorf("missing input: exit %d, %q", r.code, r.stderr)
		}
		if _, err := os.Stat(img); err == nil {
			t.Error("missing input: the image was made")
		}
		r = lklimg(t, nil, nil, "tar2fs", dir, img)
		if r.code != exitImage || !strings.Contains(r.stderr, "is a directory, not a tar archive") {
			t.Errorf("a directory as input: exit %d, %q", r.code, r.stderr)
		}
	}
}

// TestTar2fsMkfsFlags: tar2fs takes mkfs's options (here -I, -i, -G, -J,
// -L, -E root_owner=, --timestamp) for the smallest image: the image has
// what they ask, is clean and holds the tree, and --timestamp makes it
// reproducible as SOURCE_DATE_EPOCH does.
func TestTar2fsMkfsFlags(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	dir := t.TempDir()
	imgs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	args := []string{"tar2fs", "-q", "-I", "512", "-i", "8192", "-G", "4", "-J", "size=4", "-L", "lbl", "-E", "root_owner=0:0"}
	for i, img := range imgs {
		var env []string
		a := append(append([]string{}, args...), "--timestamp", "@1700000000", archive, img)
		if i == 2 {
			env, a = []string{"SOURCE_DATE_EPOCH=1700000000"}, append(append([]string{}, args...), archive, img)
		}
		if r := lklimg(t, env, nil, a...); r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: %+v", a, r)
		}
	}
	if !testutil.SameFiles(t, imgs[0], imgs[1]) || !testutil.SameFiles(t, imgs[0], imgs[2]) {
		t.Errorf("--timestamp: not the same image twice, or not SOURCE_DATE_EPOCH's")
	}
	testutil.ExpectSame(t, "source vs image", want, testutil.FsckView(t, imgs[0]), testutil.TreeArchiveOptions())
	out := string(testutil.Run(t, testutil.Need(t, "dumpe2fs")[0], "-h", imgs[0]))
	for _, line := range []string{"Inode size:\t          512", "Flex block group size:    4", "Total journal blocks:     1024",
		"Filesystem volume name:   lbl", "Inodes per group:         16384", "Filesystem created:       Tue Nov 14 22:13:20 2023"} {
		if !strings.Contains(out, line) {
			t.Errorf("dumpe2fs: no %q in\n%s", line, out)
		}
	}
}

// TestTar2fsBigalloc: tar2fs makes a bigalloc image, of a given size
// or the smallest (cut on a cluster, the journal and the orphan file in
// whole clusters), with mke2fs's 16-block clusters or -C: e2fsck passes
// it, the host kernel reads it as the archive, it has the clusters asked
// for and a journal, two runs with SOURCE_DATE_EPOCH give the same
// bytes, and the smallest is no larger than the blocks in use, the
// journal, --free and the cut groups' inode tables it could not give
// back.
func TestTar2fsBigalloc(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	dumpe2fs := testutil.Need(t, "dumpe2fs")[0]
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	plain := filepath.Join(t.TempDir(), "plain.img")
	if r := lklimg(t, epoch, nil, "tar2fs", "-q", archive, plain); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs: %+v", r)
	}
	plainSize := fileSize(t, plain)
	for _, c := range []struct {
		name    string
		args    []string
		cluster string
	}{
		{"sized-C16K", []string{"-C", "16K", "-s", "256M"}, "16384"},
		{"smallest", nil, "65536"},
		{"smallest-C16K", []string{"-C", "16K"}, "16384"},
		{"smallest-1k-C16K-free", []string{"-b", "1024", "-C", "16K", "--free", "5M"}, "16384"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var imgs [2][]byte
			for i := range imgs {
				img := filepath.Join(dir, fmt.Sprint(i))
				a := append(append([]string{"tar2fs", "-q", "-O", "bigalloc"}, c.args...), archive, img)
				if r := lklimg(t, epoch, nil, a...); r.code != 0 || r.stderr != "" {
					t.Fatalf("%q: %+v", a, r)
				}
				var err error
				if imgs[i], err = os.ReadFile(img); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(imgs[0], imgs[1]) {
				t.Errorf("two runs with SOURCE_DATE_EPOCH differ (%d and %d bytes)", len(imgs[0]), len(imgs[1]))
			}
			img := filepath.Join(dir, "0")
			testutil.ExpectSame(t, "source vs image", want, testutil.FsckView(t, img), testutil.TreeArchiveOptions())
			out := string(testutil.Run(t, dumpe2fs, "-h", img))
			for _, s := range []string{"Cluster size:             " + c.cluster, "has_journal", "bigalloc"} {
				if !strings.Contains(out, s) {
					t.Errorf("dumpe2fs: no %q in\n%s", s, out)
				}
			}
			head := func(key string) uint64 {
				_, v, _ := strings.Cut(out, "\n"+key+":")
				n, err := strconv.ParseUint(strings.Fields(v + " x")[0], 10, 64)
				if err != nil {
					t.Fatalf("dumpe2fs: %s: %q", key, v)
				}
				return n
			}
			blocks, free, bs := head("Block count"), head("Free blocks"), head("Block size")
			if size := fileSize(t, img); size != int64(blocks*bs) {
				t.Errorf("file of %d bytes, %d blocks of %d", size, blocks, bs)
			}
			t.Logf("%d bytes (%d free), without bigalloc %d", len(imgs[0]), free*bs, plainSize)
			if c.args != nil && c.args[len(c.args)-2] == "-s" {
				return
			}
			// Free: what --free asked for, the last group's minimum and
			// the inode tables of the groups cut that group 0 held
			// (flex_bg: 15 at most).
			var asked uint64
			if i := slices.Index(c.args, "--free"); i >= 0 {
				asked = 5 << 20 / bs
			}
			itb := head("Inode blocks per group")
			if free > asked+15*itb+1024 {
				t.Errorf("%d free blocks: more than %d asked, and 15 inode tables of %d blocks", free, asked, itb)
			}
		})
	}
}

// fileSize is the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTar2fsManySmallEntries: the filesystem a plain archive is filled in
// holds it even when every entry takes a whole large block: 20,000
// one-byte files with -b 65536 (1.3 GB of blocks for a 20 MB archive;
// an estimate by inodes alone made 1 GiB, and the import ran out of
// space).
func TestTar2fsManySmallEntries(t *testing.T) {
	fsck := testutil.Need(t, "e2fsck")[0]
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	const n = 20000
	for i := range n {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%02d/f%05d", i%50, i), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte{byte(i)})
	}
	tw.Close()
	archive := filepath.Join(dir, "small.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "img")
	if r := lklimg(t, nil, nil, "tar2fs", "-q", "-b", "65536", archive, img); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs -b 65536: exit %d\n%s", r.code, r.stderr)
	}
	out, err := exec.Command(fsck, "-fn", img).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	// 20,000 files, 50 directories, the root, lost+found and the
	// reserved inodes up to 10.
	if want := fmt.Sprintf("%d/", n+50+1+1+9); !bytes.Contains(out, []byte(want)) {
		t.Errorf("e2fsck counts another number of inodes in use (want %s...):\n%s", want, out)
	}
}

// TestTar2fsOrphanFile: tar2fs -O orphan_file gives the smallest image
// (-t ext4, extents; -t ext3, a block map) an orphan file after its
// journal, and a fixed size one the orphan file mkfs makes: each image is
// clean, has the orphan file and holds the tree, and the host kernel
// mounts it read-write (it reads the orphan file) and leaves it clean.
func TestTar2fsOrphanFile(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	dumpe2fs := testutil.Need(t, "dumpe2fs")[0]
	for _, c := range []struct {
		name string
		args []string
	}{
		{"smallest", []string{"--free", "40M", "-O", "orphan_file,metadata_csum_seed"}},
		{"smallest-ext3", []string{"--free", "40M", "-t", "ext3", "-O", "orphan_file"}},
		{"smallest-bigalloc", []string{"--free", "40M", "-O", "orphan_file,bigalloc", "-C", "16K"}},
		{"sized", []string{"-s", "96M", "-O", "orphan_file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			a := append(append([]string{"tar2fs", "-q"}, c.args...), "--timestamp", "@1700000000", archive, img)
			if r := lklimg(t, nil, nil, a...); r.code != 0 || r.stderr != "" {
				t.Fatalf("%q: %+v", a, r)
			}
			out := string(testutil.Run(t, dumpe2fs, "-h", img))
			for _, s := range []string{"orphan_file", "Orphan file inode:", "has_journal"} {
				if !strings.Contains(out, s) {
					t.Errorf("dumpe2fs -h: no %q in\n%s", s, out)
				}
			}
			testutil.ExpectSame(t, "source vs image", want, testutil.FsckView(t, img), testutil.TreeArchiveOptions())
			mnt := t.TempDir()
			testutil.Run(t, "mount", "-o", "loop", img, mnt)
			werr := os.WriteFile(filepath.Join(mnt, "host-file"), []byte("x"), 0o644)
			testutil.Run(t, "umount", mnt)
			if werr != nil {
				t.Fatal(werr)
			}
			testutil.FsckView(t, img)
		})
	}
}

// TestTar2fsSmallest: the smallest image of a small archive is within a
// few percent of resize2fs -M of the same image (Minimize moves the data
// that alloc=pack left above the cut groups' inode tables), e2fsck finds
// nothing, and it has the journal mke2fs gives a filesystem of its size
// (none under 2048 blocks, ext2fs_default_journal_size). With bigalloc
// only e2fsck is asked: resize2fs -M 1.47.0 hardly shrinks bigalloc.
func TestTar2fsSmallest(t *testing.T) {
	dumpe2fs := testutil.Need(t, "dumpe2fs", "resize2fs")[0]
	for _, c := range []struct {
		n    int
		args []string
	}{
		{300000, nil}, {6000000, nil}, {40000000, nil},
		{300000, []string{"-b", "1024"}}, {6000000, []string{"-O", "^extent,^64bit"}},
		{300000, []string{"-O", "bigalloc", "-C", "16K"}}, {6000000, []string{"-O", "bigalloc", "-C", "16K"}},
	} {
		n := c.n
		t.Run(fmt.Sprint(n, c.args), func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			add := func(h *tar.Header, body []byte) {
				h.ModTime = time.Unix(1700000000, 0)
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				if _, err := tw.Write(body); err != nil {
					t.Fatal(err)
				}
			}
			prog := make([]byte, n)
			for i := range prog {
				prog[i] = byte(i * 7 / 3)
			}
			add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
			add(&tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6}, []byte("hello\n"))
			add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
			add(&tar.Header{Name: "bin/prog", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(n)}, prog)
			add(&tar.Header{Name: "bin/p2", Typeflag: tar.TypeSymlink, Linkname: "prog", Mode: 0o777}, nil)
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(dir, "a.tar")
			if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(dir, "img")
			if r := lklimg(t, nil, nil, append(append([]string{"tar2fs", "-q"}, c.args...), archive, img)...); r.code != 0 || r.stderr != "" {
				t.Fatalf("tar2fs: %+v", r)
			}
			testutil.E2fsckClean(t, img)
			bigalloc := slices.Contains(c.args, "bigalloc")
			count := func(img, key string) uint64 {
				out := string(testutil.Run(t, dumpe2fs, "-h", img))
				_, v, _ := strings.Cut(out, "\n"+key+":")
				n, _ := strconv.ParseUint(strings.Fields(v + " 0")[0], 10, 64)
				return n
			}
			blocks, journal := count(img, "Block count"), count(img, "Total journal blocks")
			if want := uint64(e2fsprogs.DefaultJournalBlocks(blocks)); journal != want {
				t.Errorf("%d blocks: journal of %d blocks, mke2fs gives %d", blocks, journal, want)
			}
			if bigalloc {
				t.Logf("%d bytes of file: %d blocks (journal %d)", n, blocks, journal)
				return
			}
			ref := filepath.Join(dir, "ref")
			testutil.Run(t, "cp", "--sparse=always", img, ref)
			if out, err := exec.Command("resize2fs", "-f", "-M", ref).CombinedOutput(); err != nil {
				t.Fatalf("resize2fs -M: %v\n%s", err, out)
			}
			want := count(ref, "Block count")
			t.Logf("%d bytes of file: %d blocks (journal %d); resize2fs -M %d", n, blocks, journal, want)
			if float64(blocks) > float64(want)*1.03 {
				t.Errorf("%d blocks, resize2fs -M %d: more than 3%% larger", blocks, want)
			}
		})
	}
}

// TestTar2fsOutputFormats: tar2fs writes qcow2 (by the name, and with
// --output-format) and Android sparse images: each, converted to raw by
// its own tools (qemu-img, simg2img), is byte for byte the raw image
// tar2fs makes of the same input; qemu-img check finds the qcow2 clean;
// two runs give the same bytes; no temporary file is left beside them.
// An unknown format is refused.
func TestTar2fsOutputFormats(t *testing.T) {
	testutil.Need(t, "qemu-img", "simg2img")
	archive, _ := testutil.TreeArchive(t)
	dir := t.TempDir()
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	build := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		r := lklimg(t, epoch, nil, append(append([]string{"tar2fs", "-q"}, args...), archive, p)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("tar2fs %q %s: exit %d\n%s", args, name, r.code, r.stderr)
		}
		return p
	}
	raw, err := os.ReadFile(build("ref.img"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		expand []string
	}{
		{"by-name.qcow2", nil, []string{"qemu-img", "convert", "-O", "raw"}},
		{"asked.img", []string{"--output-format", "qcow2"}, []string{"qemu-img", "convert", "-O", "raw"}},
		{"asked.simg", []string{"--output-format", "android-sparse"}, []string{"simg2img"}},
	} {
		p := build(c.name, c.args...)
		if c.expand[0] == "qemu-img" {
			testutil.Run(t, "qemu-img", "check", p)
		}
		testutil.Run(t, c.expand[0], append(c.expand[1:], p, p+".raw")...)
		got, _ := os.ReadFile(p + ".raw")
		if !bytes.Equal(got, raw) {
			t.Errorf("%s expanded (%d bytes) differs from the raw image (%d)", c.name, len(got), len(raw))
		}
		again := build("again-"+c.name, c.args...)
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(again)
		if !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s: two runs differ", c.name)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*raw-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	r := lklimg(t, nil, nil, "tar2fs", "-q", "--output-format", "vmdk", archive, filepath.Join(dir, "x.vmdk"))
	if r.code != 2 || !strings.Contains(r.stderr, "--output-format vmdk: the formats written are raw, qcow2, android-sparse") {
		t.Errorf("--output-format vmdk: exit %d, %s", r.code, r.stderr)
	}
}
