//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"errors"
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

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

// tar2fsSource makes testutil.MakeTree's tree and GNU tar's pax archive
// of it (with xattrs, ACLs and sparse files); it returns the archive and
// the tree's scan.
func tar2fsSource(t *testing.T) (string, testutil.Tree) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	tree, err := testutil.ScanDir(src)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(dir, "tree.tar")
	testutil.Run(t, tarPath, "--format=pax", "-S", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
		"-cf", archive, "-C", src, ".")
	return archive, tree
}

// compressed returns the archive compressed with tool ("" for none).
func compressed(t *testing.T, archive, tool string) string {
	t.Helper()
	if tool == "" {
		return archive
	}
	bin := testutil.Need(t, tool)[0]
	out := filepath.Join(t.TempDir(), "tree.tar."+tool)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msg bytes.Buffer
	cmd := exec.Command(bin, "-c", archive)
	cmd.Stdout, cmd.Stderr = f, &msg
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v %s", tool, err, msg.String())
	}
	return out
}

// treeOptions is what a comparison of the source with an image leaves
// out: sockets (tar has none), lost+found (mkfs's), the FIFO's second
// name (GNU tar archives it as a FIFO of its own).
func treeOptions() testutil.CompareOptions {
	return testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}, HoleUnit: 4096,
		SkipPaths: []string{"lost+found", "hard/fifo-link"}}
}

// fsckView runs e2fsck -fn on img (it must find nothing) and returns what
// the host kernel shows of it, loop-mounted read-only.
func fsckView(t *testing.T, img string) testutil.Tree {
	t.Helper()
	e2fsckClean(t, img)
	return testutil.LoopView(t, img)
}

func compareTrees(t *testing.T, what string, want, got testutil.Tree) {
	t.Helper()
	for i, d := range testutil.Compare(want, got, treeOptions()) {
		if i == 40 {
			t.Errorf("%s: ...", what)
			break
		}
		t.Errorf("%s: %s", what, d)
	}
}

// TestTar2fsFeatureMatrix is tar2fs's part of the feature matrix: the
// test tree's archive goes into the smallest image (with 16 MiB free)
// lklimg's mkfs makes with each feature of testutil.Ext4Features: the image has the features,
// e2fsck -fn finds nothing, and the host kernel (fs2tar where it cannot
// mount the image) shows the source tree. What our mkfs cannot make yet
// is said in the log.
func TestTar2fsFeatureMatrix(t *testing.T) {
	mkfsImplemented(t)
	archive, want := tar2fsSource(t)
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
			e2fsckClean(t, img)
			view := testutil.LoopView
			if !f.LogHostView(t, false, "compared through fs2tar") {
				view = fs2tarView
			}
			opts := treeOptions()
			opts.HoleUnit = f.HoleUnit()
			testutil.ExpectSame(t, "source vs image", want, view(t, img), opts)
		})
	}
}

// TestTar2fsImportStep runs tar2fs's kernel step (mount read-write,
// import, unmount) on images made by the host's mkfs.ext4 with a fixed
// UUID, hash seed and time, for the archive uncompressed and compressed
// each way: the image is clean, holds the source tree, and two runs with
// the same clock write the same bytes.
func TestTar2fsImportStep(t *testing.T) {
	archive, want := tar2fsSource(t)
	mke2fs := testutil.Need(t, "mkfs.ext4")[0]
	mkfs := func() string {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "truncate", "-s", "96M", img)
		cmd := exec.Command(mke2fs, "-q", "-F", "-E", "root_owner=0:0,hash_seed=01234567-89ab-cdef-0123-456789abcdef",
			"-U", "76543210-89ab-cdef-0123-456789abcdef", img)
		cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
		return img
	}
	epoch := int64(1700000000)
	plan := &tar2fsPlan{epoch: &epoch}
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 64}
	var first []byte
	for _, tool := range []string{"", "gzip", "zstd", "xz", "bzip2"} {
		t.Run("compress="+tool, func(t *testing.T) {
			img := mkfs()
			in, err := os.Open(compressed(t, archive, tool))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var stdout, stderr bytes.Buffer
			status, used, err := importImage(t, f, plan, img, in, &stdout, &stderr)
			if err != nil || status != exitOK || stderr.Len() > 0 || used == 0 {
				t.Fatalf("import: status %d, used %d, %v\n%s", status, used, err, stderr.String())
			}
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = data
			} else if !bytes.Equal(first, data) {
				t.Errorf("the image differs from the first run's")
			}
			compareTrees(t, "source vs image", want, fsckView(t, img))
		})
	}
}

// mkfsImplemented skips a test that runs the whole command while e2fsprogs.Mkfs
// is the stub that says ENOSYS (before the layout writer is merged).
func mkfsImplemented(t *testing.T) {
	t.Helper()
	if _, err := e2fsprogs.DefaultMkfsParams(64<<20, "ext4"); errors.Is(err, abi.ENOSYS) {
		t.Skip("e2fsprogs.Mkfs is not implemented in this tree yet (ENOSYS)")
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
// sees it, and with SOURCE_DATE_EPOCH two runs give the same bytes.
func TestTar2fs(t *testing.T) {
	mkfsImplemented(t)
	archive, want := tar2fsSource(t)
	dir := t.TempDir()
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}

	sized := filepath.Join(dir, "sized.img")
	if r := lklimg(t, nil, nil, "tar2fs", "-q", "-s", "128M", "-L", "root", archive, sized); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs -s: exit %d\n%s", r.code, r.stderr)
	}
	if fi, err := os.Stat(sized); err != nil || fi.Size() != 128<<20 {
		t.Errorf("-s 128M: %v %v", fi, err)
	}
	compareTrees(t, "source vs -s image", want, fsckView(t, sized))

	small := filepath.Join(dir, "small.img")
	gz := compressed(t, archive, "gzip")
	if r := lklimg(t, epoch, nil, "tar2fs", "-q", gz, small); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs: exit %d\n%s", r.code, r.stderr)
	}
	compareTrees(t, "source vs smallest image", want, fsckView(t, small))
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
	dumpe2fs := testutil.Need(t, "dumpe2fs")[0]
	if out := testutil.Run(t, dumpe2fs, "-h", small); !bytes.Contains(out, []byte("has_journal")) {
		t.Errorf("smallest image: no journal:\n%s", out)
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
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("two runs with SOURCE_DATE_EPOCH differ (%d and %d bytes)", len(a), len(b))
	}
	// A file input hashes into the UUID: another archive, another UUID.
	c, _ := os.ReadFile(small)
	if bytes.Equal(c[0x468:0x478], a[0x468:0x478]) {
		t.Errorf("the UUID of an image from a file is that of one from stdin")
	}
}

// TestTar2fsWhiteouts: --whiteouts overlay through the command.
func TestTar2fsWhiteouts(t *testing.T) {
	mkfsImplemented(t)
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
	got := fsckView(t, img)
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
		{nil, []string{"-t", "xfs", "a.tar", img}, "-t xfs: no mkfs for xfs yet (mkfs makes ext4, ext3, ext2)"},
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

// TestTar2fsImportStepFails: a filesystem too small stops the import
// with ENOSPC said plainly (the image stays consistent), and one the
// driver will not write is refused before anything is imported.
func TestTar2fsImportStepFails(t *testing.T) {
	archive, _ := tar2fsSource(t)
	mke2fs := testutil.Need(t, "mkfs.ext4")[0]
	mkfs := func(size string, opts ...string) string {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "truncate", "-s", size, img)
		testutil.Run(t, mke2fs, append(append([]string{"-q", "-F"}, opts...), img)...)
		return img
	}
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32}
	run := func(img string) (int, uint64, error, string) {
		in, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var stdout, stderr bytes.Buffer
		status, used, err := importImage(t, f, &tar2fsPlan{}, img, in, &stdout, &stderr)
		return status, used, err, stderr.String()
	}

	img := mkfs("2M")
	status, used, err, stderr := run(img)
	if err == nil || !errors.Is(err, abi.ENOSPC) || !strings.Contains(err.Error(), "the filesystem is full") ||
		!strings.Contains(err.Error(), "import stopped after") || used == 0 || stderr != "" {
		t.Errorf("2M: status %d, used %d, %v, stderr %q", status, used, err, stderr)
	}
	e2fsck := testutil.Need(t, "e2fsck")[0]
	if out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn after ENOSPC: %v\n%s", err, out)
	}

	img = mkfs("16M", "-O", "mmp") // a feature the driver reads but does not write
	status, used, err, _ = run(img)
	if status != exitImage || used != 0 || err == nil || !strings.Contains(err.Error(), "the new filesystem cannot be written") {
		t.Errorf("mmp: status %d, used %d, %v", status, used, err)
	}
}

// TestTar2fsImportStepReports: -v lists every entry on stdout; an entry
// that fails is said on stderr with the count at the end, and the status
// is 1, the rest imported.
func TestTar2fsImportStepReports(t *testing.T) {
	src := t.TempDir()
	for _, p := range []string{"a", "d/b", "d/c"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(t.TempDir(), "a.tar")
	// GNU tar keeps a member name with ".." when told --absolute-names.
	testutil.Run(t, tarPath, "--sort=name", "-cf", archive, "-C", src, "--absolute-names", ".", "d/../a")
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "truncate", "-s", "8M", img)
	testutil.Run(t, testutil.Need(t, "mkfs.ext4")[0], "-q", "-F", img)
	in, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var stdout, stderr bytes.Buffer
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32, verbose: true}
	status, _, err := importImage(t, f, &tar2fsPlan{}, img, in, &stdout, &stderr)
	wantOut := "./\n./a\n./d/\n./d/b\n./d/c\nd/../a\n"
	wantErr := "lklimg: tar2fs: d/../a: member name contains '..'\n" +
		"lklimg: tar2fs: 1 entry of the archive could not be imported\n"
	if err != nil || status != exitFail || stdout.String() != wantOut || stderr.String() != wantErr {
		t.Errorf("status %d, %v\nstdout:\n%s\nstderr:\n%s", status, err, stdout.String(), stderr.String())
	}
}

// TestTar2fsImportStepChecksum: a compressed input whose checksum does
// not match (the gzip trailer's CRC-32, read after the archive's end) is
// an error, though every entry was read.
func TestTar2fsImportStepChecksum(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("some data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(t.TempDir(), "a.tar")
	testutil.Run(t, tarPath, "-cf", archive, "-C", src, ".")
	gz, err := os.ReadFile(compressed(t, archive, "gzip"))
	if err != nil {
		t.Fatal(err)
	}
	gz[len(gz)-8] ^= 0xff // the CRC-32's first byte
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "truncate", "-s", "8M", img)
	testutil.Run(t, testutil.Need(t, "mkfs.ext4")[0], "-q", "-F", img)
	var stdout, stderr bytes.Buffer
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32}
	status, used, err := importImage(t, f, &tar2fsPlan{}, img, bytes.NewReader(gz), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "input: after the archive's end") || used == 0 {
		t.Errorf("status %d, used %d, %v", status, used, err)
	}
	// Intact, it goes through.
	gz[len(gz)-8] ^= 0xff
	img2 := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "truncate", "-s", "8M", img2)
	testutil.Run(t, testutil.Need(t, "mkfs.ext4")[0], "-q", "-F", img2)
	if status, _, err := importImage(t, f, &tar2fsPlan{}, img2, bytes.NewReader(gz), &stdout, &stderr); err != nil || status != exitOK {
		t.Errorf("intact: status %d, %v", status, err)
	}
}

// TestTar2fsMkfsFlags: tar2fs takes mkfs's options (here -I, -i, -G, -J,
// -L, -E root_owner=, --timestamp) for the smallest image: the image has
// what they ask, is clean and holds the tree, and --timestamp makes it
// reproducible as SOURCE_DATE_EPOCH does.
func TestTar2fsMkfsFlags(t *testing.T) {
	mkfsImplemented(t)
	archive, want := tar2fsSource(t)
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
	if !sameFiles(t, imgs[0], imgs[1]) || !sameFiles(t, imgs[0], imgs[2]) {
		t.Errorf("--timestamp: not the same image twice, or not SOURCE_DATE_EPOCH's")
	}
	compareTrees(t, "source vs image", want, fsckView(t, imgs[0]))
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
	mkfsImplemented(t)
	archive, want := tar2fsSource(t)
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
			compareTrees(t, "source vs image", want, fsckView(t, img))
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

// TestVirtualSize: an uncompressed archive of n bytes gets a filesystem of
// (32 + 16) n (its entries' inodes at 16 KiB each, two 4 KiB blocks each)
// plus 256 MiB, at least 1 GiB (mke2fs.conf's default size type) and at
// most tar2fsVirtualSize, which is also what an archive of unknown size
// gets.
func TestVirtualSize(t *testing.T) {
	for _, c := range []struct {
		n         int64
		ratio, bs int
		want      int64
	}{
		{0, 0, 0, tar2fsVirtualSize},
		{-1, 0, 0, tar2fsVirtualSize},
		{10 << 20, 0, 0, 1 << 30},
		{200 << 20, 0, 0, 200<<20*(32+16) + 256<<20},
		{200 << 20, 4096, 0, 200<<20*(8+16) + 256<<20},
		{20 << 20, 1024, 1024, 1 << 30},
		{200 << 20, 65536, 0, 200<<20*(128+16) + 256<<20},
		{100 << 20, 0, 65536, 100<<20*(32+256) + 256<<20},
		{30 << 30, 0, 0, tar2fsVirtualSize},
		{1 << 62, 0, 0, tar2fsVirtualSize},
	} {
		if got := virtualSize(archiveSize{plain: c.n, headers: c.n}, c.ratio, c.bs); got != c.want {
			t.Errorf("virtualSize(%d, -i %d, -b %d) = %d, want %d", c.n, c.ratio, c.bs, got, c.want)
		}
	}
	// Scanned: the headers as before, the data once, a block per entry.
	for _, c := range []struct {
		a    archiveSize
		bs   int
		want int64
	}{
		{archiveSize{plain: 200 << 20, headers: 20 << 20, entries: 6000}, 0, 20<<20*(32+16) + 180<<20 + 6000*4096 + 256<<20},
		{archiveSize{plain: 200 << 20, headers: 10 << 20, entries: 6000}, 65536, 10<<20*(32+256) + 190<<20 + 6000*65536 + 256<<20},
		{archiveSize{plain: 100 << 20, headers: 1 << 20, entries: 100}, 0, 1 << 30},
		{archiveSize{plain: 1 << 50, headers: 1 << 20, entries: 100}, 0, tar2fsVirtualSize},
		{archiveSize{plain: 1 << 30, headers: 1 << 20, entries: 1 << 40}, 0, tar2fsVirtualSize},
	} {
		if got := virtualSize(c.a, 0, c.bs); got != c.want {
			t.Errorf("virtualSize(%+v, -b %d) = %d, want %d", c.a, c.bs, got, c.want)
		}
	}
}

// TestScanArchive: scanArchive counts an archive's entries and the bytes
// it reads (headers, pax records, padding): the files' data but a byte
// of each is skipped; the file is rewound. An archive it cannot walk
// counts as all headers.
func TestScanArchive(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sizes := []int64{100000, 0, 1, 5000, 2 << 20}
	data := int64(0)
	for i, n := range sizes {
		h := &tar.Header{Name: fmt.Sprintf("d/%s/f%d", strings.Repeat("x", 120), i), Mode: 0o644, Size: n,
			Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, n))
		data += n
	}
	tw.WriteHeader(&tar.Header{Name: "d/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.Close()
	path := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(buf.Len())
	a, err := scanArchive(f, size)
	if skipped := a.plain - a.headers; err != nil || a.entries != 6 || skipped > data || skipped < data-int64(len(sizes)) {
		t.Errorf("scanArchive: %+v (%v); %d bytes of data in %d", a, err, data, size)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
		t.Errorf("not rewound: at %d", pos)
	}
	// Cut in the middle of a file's data: all headers.
	if err := os.Truncate(path, size/2); err != nil {
		t.Fatal(err)
	}
	if a, err := scanArchive(f, size/2); err != nil || a != (archiveSize{plain: size / 2, headers: size / 2}) {
		t.Errorf("truncated archive: %+v (%v)", a, err)
	}
}

// TestTar2fsManySmallEntries: the filesystem a plain archive is filled in
// holds it even when every entry takes a whole large block: 20,000
// one-byte files with -b 65536 (1.3 GB of blocks for a 20 MB archive;
// an estimate by inodes alone made 1 GiB, and the import ran out of
// space).
func TestTar2fsManySmallEntries(t *testing.T) {
	mkfsImplemented(t)
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
	mkfsImplemented(t)
	archive, want := tar2fsSource(t)
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
			compareTrees(t, "source vs image", want, fsckView(t, img))
			mnt := t.TempDir()
			testutil.Run(t, "mount", "-o", "loop", img, mnt)
			werr := os.WriteFile(filepath.Join(mnt, "host-file"), []byte("x"), 0o644)
			testutil.Run(t, "umount", mnt)
			if werr != nil {
				t.Fatal(werr)
			}
			fsckView(t, img)
		})
	}
}

// importImage is tar2fs's import step on the filesystem of the image
// file img: a kernel booted on it, halted afterwards (which writes the
// image).
func importImage(t *testing.T, f *tar2fsFlags, plan *tar2fsPlan, img string, in io.Reader, stdout, stderr io.Writer) (int, uint64, error) {
	t.Helper()
	d, err := bootDisk(img, f.memoryMB, nil, plan.epoch, 0, kernel.DiskOptions{CacheUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	status, used, err := tar2fsImport(f, plan, d, in, stdout, stderr, nil)
	if herr := d.halt(); herr != nil {
		t.Errorf("halt: %v", herr)
	}
	return status, used, err
}
