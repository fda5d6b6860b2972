package squashfstools_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/squashfstools"
)

// sourceTar returns the shared tree and GNU tar's archive of it (xattrs,
// ACLs, sparse files, numeric owners), made once.
func sourceTar(t *testing.T) (string, testutil.Tree) {
	t.Helper()
	src, tr := tree.Get(t)
	tarPath := filepath.Join(filepath.Dir(src), "tree.tar")
	if _, err := os.Stat(tarPath); err != nil {
		bin := testutil.Need(t, "tar")[0]
		testutil.Run(t, bin, "--format=pax", "-S", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
			"-cf", tarPath, "-C", src, ".")
	}
	return tarPath, tr
}

// mkfs makes an image of the tar with p, on a file filled with random
// bytes (so that a byte the writer forgets cannot read as zero by
// luck), cut to the size Mkfs returns. It returns the image and the
// entries reported.
func mkfs(t *testing.T, tarPath string, p squashfstools.Params) (string, []error) {
	t.Helper()
	in, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	img := filepath.Join(t.TempDir(), "img.sqfs")
	out, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	junk := make([]byte, 1<<20)
	for i := range junk {
		junk[i] = byte(i*131 + i>>9)
	}
	fi, _ := in.Stat()
	for off := int64(0); off < fi.Size()+1<<20; off += int64(len(junk)) {
		out.WriteAt(junk, off)
	}
	var reports []error
	p.Report = func(err error) { reports = append(reports, err) }
	size, err := squashfstools.Mkfs(out, archive.NewReader(in), p)
	if err != nil {
		t.Fatalf("Mkfs: %v", err)
	}
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return img, reports
}

// compareOpts: SquashfsCompare, and the FIFO's second name, which GNU
// tar archives as a FIFO of its own.
var compareOpts = func() testutil.CompareOptions {
	o := testutil.SquashfsCompare()
	o.SkipPaths = []string{"hard/fifo-link"}
	return o
}()

// cases are the images the views are compared on: every compressor,
// and the options that change the layout.
var cases = []struct {
	name string
	p    squashfstools.Params
	// lzma is not read by Linux: unsquashfs alone checks it.
	noKernel bool
}{
	{name: "gzip"},
	{name: "xz", p: squashfstools.Params{Compressor: squashfs.CompXz}},
	{name: "xz-4k", p: squashfstools.Params{Compressor: squashfs.CompXz, BlockSize: 4096}},
	{name: "lzma", p: squashfstools.Params{Compressor: squashfs.CompLzma}, noKernel: true},
	{name: "lz4", p: squashfstools.Params{Compressor: squashfs.CompLz4}},
	{name: "lz4-hc", p: squashfstools.Params{Compressor: squashfs.CompLz4, CompressorOptions: squashfs.CompressorOptions{HC: true}}},
	{name: "zstd", p: squashfstools.Params{Compressor: squashfs.CompZstd}},
	{name: "zstd-3", p: squashfstools.Params{Compressor: squashfs.CompZstd, CompressorOptions: squashfs.CompressorOptions{Level: 3}}},
	{name: "lzo", p: squashfstools.Params{Compressor: squashfs.CompLzo}},
	{name: "gzip-1-4k", p: squashfstools.Params{BlockSize: 4096, CompressorOptions: squashfs.CompressorOptions{Level: 1}}},
	{name: "1m-always-frags", p: squashfstools.Params{BlockSize: 1 << 20, AlwaysFragments: true}},
	{name: "no-fragments", p: squashfstools.Params{NoFragments: true, NoExports: true}},
	{name: "uncompressed", p: squashfstools.Params{NoInodeCompression: true, NoDataCompression: true,
		NoFragmentCompression: true, NoXattrCompression: true, NoDuplicates: true}},
}

// TestMkfsViews makes an image of the tree's tar in each case and
// compares, entry by entry, the tree with what unsquashfs extracts,
// what our kernel shows and what the host kernel's loop mount shows.
func TestMkfsViews(t *testing.T) {
	tarPath, src := sourceTar(t)
	want := testutil.SquashfsKept(src)
	t.Logf("%d entries compared in each view of each image", len(want))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, reports := mkfs(t, tarPath, c.p)
			if len(reports) != 3 {
				t.Errorf("reports: %v, want the two ACL entries and a time before 1970", reports)
			}
			if !c.noKernel {
				testutil.ExpectSame(t, "our kernel", want, kerneltest.ExportTree(t, img, "squashfs", 0, ""), compareOpts)
			}
			testutil.ExpectSame(t, "unsquashfs", want, testutil.UnsquashfsView(t, img), compareOpts)
			if c.p.Compressor != squashfs.CompLzma {
				// sqfs2tar leaves the root out of its archive.
				o := compareOpts
				o.SkipPaths = append([]string{"."}, o.SkipPaths...)
				testutil.ExpectSame(t, "sqfs2tar", want, sqfs2tarView(t, img), o)
			}
			if c.noKernel {
				return
			}
			if testutil.CanLoop() {
				testutil.ExpectSame(t, "host kernel", want, testutil.LoopView(t, img), compareOpts)
			}
		})
	}
}

// TestMkfsWorkers checks that the image's bytes do not depend on the
// number of workers, with every compressor, and that a fixed time makes
// the same image twice.
func TestMkfsWorkers(t *testing.T) {
	tarPath, _ := sourceTar(t)
	epoch := int64(1700000000)
	for _, comp := range []uint16{squashfs.CompZlib, squashfs.CompXz, squashfs.CompLz4, squashfs.CompZstd, squashfs.CompLzo} {
		t.Run(squashfs.CompressorName(comp), func(t *testing.T) {
			var sums [][32]byte
			for _, w := range []int{1, 4, 4} {
				img, _ := mkfs(t, tarPath, squashfstools.Params{Compressor: comp, Workers: w, Time: &epoch})
				sums = append(sums, testutil.FileSum(t, img))
			}
			if sums[0] != sums[1] || sums[1] != sums[2] {
				t.Errorf("1 worker, 4 workers, 4 again: %x %x %x", sums[0][:8], sums[1][:8], sums[2][:8])
			}
		})
	}
}

// TestMkfsWorkersFragments: a tree of many small files (hundreds of
// fragment blocks, compressed by the pool) is the same whatever the
// number of workers.
func TestMkfsWorkersFragments(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "small.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	w := archive.NewWriter(f)
	for i := range 4000 {
		data := bytes.Repeat([]byte(fmt.Sprintf("file %d ", i)), i%500)
		h := archive.Header{Name: fmt.Sprintf("d%d/f%d", i%13, i), Typeflag: archive.TypeReg, Mode: 0o644, Size: int64(len(data))}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	epoch := int64(1)
	var sums [][32]byte
	for _, workers := range []int{1, 3, 8} {
		img, _ := mkfs(t, tarPath, squashfstools.Params{Workers: workers, Time: &epoch, BlockSize: 4096})
		sums = append(sums, testutil.FileSum(t, img))
	}
	if sums[0] != sums[1] || sums[0] != sums[2] {
		t.Errorf("1, 3 and 8 workers: %x %x %x", sums[0][:8], sums[1][:8], sums[2][:8])
	}
}

// TestMkfsEpoch checks SOURCE_DATE_EPOCH's effects: the superblock's
// time, mtimes clamped to it, implied directories of that time; and
// the stream's rules: a name given twice (the later wins), implied
// parents, a hard link to an earlier name, names refused.
func TestMkfsEpoch(t *testing.T) {
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "in.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	w := archive.NewWriter(f)
	add := func(h archive.Header, data string) {
		t.Helper()
		if h.Typeflag == archive.TypeReg {
			h.Size = int64(len(data))
		}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	old, late := archive.Time{Sec: 1000}, archive.Time{Sec: 2000000000}
	add(archive.Header{Name: "a/b/old", Typeflag: archive.TypeReg, Mode: 0o644, Mtime: old}, "first")
	add(archive.Header{Name: "a/b/old", Typeflag: archive.TypeReg, Mode: 0o600, Mtime: old, Uid: 7}, "second, longer")
	add(archive.Header{Name: "./late", Typeflag: archive.TypeReg, Mode: 0o644, Mtime: late}, "late")
	add(archive.Header{Name: "link", Typeflag: archive.TypeLink, Linkname: "a/b/old"}, "")
	add(archive.Header{Name: "../escape", Typeflag: archive.TypeReg, Mode: 0o644}, "x")
	add(archive.Header{Name: "dangling", Typeflag: archive.TypeLink, Linkname: "nowhere"}, "")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	epoch := int64(1700000000)
	img, reports := mkfs(t, tarPath, squashfstools.Params{Time: &epoch})
	if len(reports) != 2 {
		t.Errorf("reports: %v, want ../escape and dangling", reports)
	}
	im := openImage(t, img)
	if im.sb.MkfsTime != uint32(epoch) {
		t.Errorf("superblock time %d, want %d", im.sb.MkfsTime, epoch)
	}
	got := kerneltest.ExportTree(t, img, "squashfs", 0, "")
	sec := func(p string) int64 { return got[p].Mtime / 1e9 }
	for p, want := range map[string]int64{".": epoch, "a": epoch, "a/b": epoch, "a/b/old": 1000, "late": epoch} {
		if e := got[p]; e == nil || sec(p) != want {
			t.Errorf("%s: mtime %v, want %d", p, e, want)
		}
	}
	if e := got["a/b/old"]; e == nil || e.Mode != 0o600 || e.Uid != 7 || e.Size != int64(len("second, longer")) {
		t.Errorf("a/b/old: %+v, want the second entry's", e)
	}
	if got["link"] == nil || got["a/b/old"] == nil || got["link"].Ino != got["a/b/old"].Ino {
		t.Errorf("link is not a hard link to a/b/old")
	}
	if got["escape"] != nil || got["dangling"] != nil || len(got) != 6 {
		t.Errorf("entries: %v", got.Paths())
	}
}

// sqfs2tarView is squashfs-tools-ng's reading of the image: sqfs2tar's
// archive (with xattrs) scanned.
func sqfs2tarView(t *testing.T, img string) testutil.Tree {
	t.Helper()
	bin := testutil.Need(t, "sqfs2tar")[0]
	out, err := exec.Command(bin, "--no-skip", img).Output()
	if err != nil {
		t.Fatalf("sqfs2tar: %v", err)
	}
	tr, err := testutil.ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestMkfsLargeSparse: a sparse file of 5 GiB (a 64-bit size, an
// extended inode, 40960 sparse blocks written without reading a hole)
// with data at 1 GiB and at its end: our kernel and the host kernel
// give its size and those bytes.
func TestMkfsLargeSparse(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "sparse.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	const size = 5 << 30
	mid, tail := bytes.Repeat([]byte("middle"), 1024)[:4096], bytes.Repeat([]byte("end!"), 1024)
	w := archive.NewWriter(f)
	h := archive.Header{Name: "big", Typeflag: archive.TypeReg, Mode: 0o644, Size: size,
		Sparse: []archive.Extent{{Offset: 1 << 30, Length: 4096}, {Offset: size - 4096, Length: 4096}}}
	if err := w.WriteHeader(&h); err != nil {
		t.Fatal(err)
	}
	w.Write(mid)
	w.Write(tail)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	img, _ := mkfs(t, tarPath, squashfstools.Params{})
	lines := openImage(t, img).layout()
	if !strings.Contains(lines[1], "./big: type 9 ") || !strings.Contains(lines[1], "size 5368709120 ") {
		t.Errorf("inode: %s", lines[1])
	}
	check := func(who string, pread func(p []byte, off int64) (int, error)) {
		for _, c := range []struct {
			off  int64
			want []byte
		}{{1 << 30, mid}, {size - 4096, tail}, {1<<30 + 4096, make([]byte, 4096)}, {0, make([]byte, 4096)}} {
			got := make([]byte, len(c.want))
			if n, err := pread(got, c.off); n != len(got) || !bytes.Equal(got, c.want) {
				t.Errorf("%s: at %d: %d bytes, %v, %q...", who, c.off, n, err, got[:8])
			}
		}
	}
	kerneltest.WithMount(t, img, "squashfs", 0, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/big", abi.O_RDONLY, 0)
		must("open", err)
		check("our kernel", func(p []byte, off int64) (int, error) { return k.Pread(fd, p, off) })
		must("close", k.Close(fd))
	})
	if testutil.CanLoop() {
		mnt, _ := testutil.HostMount(t, img, "ro")
		hf, err := os.Open(filepath.Join(mnt, "big"))
		if err != nil {
			t.Fatal(err)
		}
		defer hf.Close()
		if fi, _ := hf.Stat(); fi.Size() != size {
			t.Errorf("host kernel: size %d", fi.Size())
		}
		check("host kernel", hf.ReadAt)
	}
}
