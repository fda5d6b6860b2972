package isofs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/internal/testutil"
)

// Images other writers make that Linux reads: each built small by
// xorriso, then changed where the writer in question differs, and
// compared with what xorriso or bsdtar extract.

// smallTree writes a few files and a directory under a temporary
// directory and returns it.
func smallTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	mkdir(t, filepath.Join(src, "dir"))
	for name, data := range map[string]string{"readme.txt": "hello\n", "dir/inner.dat": "inner data\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// pokeImage applies fn to the image's bytes and writes them back.
func pokeImage(t *testing.T, img string, fn func(p []byte)) {
	t.Helper()
	p, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	fn(p)
	if err := os.WriteFile(img, p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadRootRecordLength reads an image whose primary descriptor
// gives its root's record a length byte of 68 where the field holds 34
// (as libarchive's test_read_format_iso_3.iso does): Linux reads only
// the extent from it, and so must we.
func TestReadRootRecordLength(t *testing.T) {
	img := testutil.XorrisoImage(t, smallTree(t), "-R")
	want := testutil.XorrisoView(t, img)
	pokeImage(t, img, func(p []byte) {
		const root = iso9660.FirstDescriptorSector*iso9660.SectorSize + 156
		if p[root] != 34 {
			t.Fatalf("root record length %d, want 34", p[root])
		}
		p[root] = 68
	})
	got := kernelView(t, img, "")
	n := compare(t, want, got, testutil.CompareOptions{Ignore: []string{"links", "xattrs"}, SkipPaths: []string{"."}, MtimeUnit: time.Second})
	if n < 4 {
		t.Errorf("%d entries compared", n)
	}
}

// gunzip is testutil.Gunzip.
func gunzip(t *testing.T, src string) string { return testutil.Gunzip(t, src) }

// TestReadXA reads genisoimage -XA's image (testdata/xa.sh made it):
// every record's system use area starts with CD-ROM XA's 14 bytes, the
// SUSP entries after them. Linux finds the root's SP there on its second
// look (RR_REGARD_XA) and reads Rock Ridge, not Joliet: names, modes,
// owners, times and the symlink are the source's, as the script set them.
func TestReadXA(t *testing.T) {
	got := kernelView(t, gunzip(t, "testdata/xa.iso.gz"), "")
	mtime := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC).UnixNano()
	for _, w := range []testutil.Entry{
		{Path: "readme.txt", Type: testutil.TypeFile, Mode: 0o640, Uid: 1234, Gid: 5678, Size: 6},
		{Path: "Sub Dir", Type: testutil.TypeDir, Mode: 0o750},
		{Path: "Sub Dir/Inner File.dat", Type: testutil.TypeFile, Mode: 0o644, Size: 6},
		{Path: "link", Type: testutil.TypeSymlink, Mode: 0o777, LinkTarget: "Sub Dir/Inner File.dat"},
	} {
		g := got[w.Path]
		if g == nil {
			t.Errorf("%s: missing; the tree: %v", w.Path, got.Paths())
			continue
		}
		if g.Type != w.Type || g.Mode != w.Mode || g.Uid != w.Uid || g.Gid != w.Gid || g.Mtime != mtime ||
			g.Size != w.Size || g.LinkTarget != w.LinkTarget {
			t.Errorf("%s: %s %o %d:%d mtime %d size %d target %q, want %s %o %d:%d %d %d %q", w.Path,
				g.Type, g.Mode, g.Uid, g.Gid, g.Mtime, g.Size, g.LinkTarget, w.Type, w.Mode, w.Uid, w.Gid, mtime, w.Size, w.LinkTarget)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d entries, want 5: %v", len(got), got.Paths())
	}
}

// TestReadGenisoimage reads genisoimage's images (cdrkit, RRIP 1.09 with
// RR entries, "rr_moved" for deep directories) and compares them with
// bsdtar's extraction. Where bsdtar reads otherwise, Linux's fs/isofs is
// the judge: PN holds major and minor apart, as Linux reads it (bsdtar
// takes high:low as one 64-bit number); genisoimage's rr_moved carries no
// RE and Linux shows it, empty (bsdtar hides it); and a symlink target
// of more than 255 bytes, written as one SL entry with its length byte
// wrapped, is what Linux's get_symlink_chunk makes of it (bsdtar reads
// on past the entry's end, up to the next entry it can parse).
func TestReadGenisoimage(t *testing.T) {
	testutil.Need(t, "genisoimage")
	src := smallTree(t)
	deep := filepath.Join(src, "d1/d2/d3/d4/d5/d6/d7/d8/d9")
	mkdir(t, deep)
	if err := os.WriteFile(filepath.Join(deep, "bottom"), []byte("deep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	part := strings.Repeat("t", 90)
	if err := os.Symlink(strings.Join([]string{part, part, part, part, part, part}, "/"), filepath.Join(src, "long.lnk")); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mknod", filepath.Join(src, "chr"), "c", "4", "64")
	testutil.Run(t, "mknod", filepath.Join(src, "blk"), "b", "300", "70000")
	for _, args := range [][]string{{"-R"}, {"-R", "-J"}, {"-r", "-J", "-XA"}} {
		t.Run(strings.Join(args, ""), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "image.iso")
			testutil.Run(t, "genisoimage", append(append([]string{"-quiet", "-o", img}, args...), src)...)
			got := kernelView(t, img, "")
			// Linux's view where bsdtar's is not: the devices, the first
			// four 90-byte components of the symlink, rr_moved.
			for p, w := range map[string][2]uint32{"chr": {4, 64}, "blk": {300, 70000}} {
				if g := got[p]; g == nil || g.RdevMajor != w[0] || g.RdevMinor != w[1] {
					t.Errorf("%s: %+v, want device %d:%d", p, g, w[0], w[1])
				}
			}
			if g, w := got["long.lnk"], strings.Join([]string{part, part, part, part}, "/"); g == nil || g.LinkTarget != w {
				t.Errorf("long.lnk: %+v, want a target of %d bytes", g, len(w))
			}
			if g := got["rr_moved"]; g == nil || g.Type != testutil.TypeDir {
				t.Errorf("rr_moved: %+v", g)
			}
			if slices.Contains(args, "-XA") {
				// Neither xorriso nor bsdtar reads Rock Ridge behind XA.
				return
			}
			o := testutil.CompareOptions{Ignore: []string{"links"}, SkipPaths: []string{".", "chr", "blk", "long.lnk", "rr_moved"}, MtimeUnit: time.Second}
			// bsdtar cannot make the devices it misreads: left out.
			dir := mkdir(t, filepath.Join(t.TempDir(), "x"))
			testutil.Run(t, "bsdtar", "-x", "-p", "--same-owner", "--exclude", "chr", "--exclude", "blk", "-f", img, "-C", dir)
			n := compare(t, testutil.MustScanDir(t, dir), got, o)
			if n < 15 {
				t.Errorf("%d entries compared", n)
			}
		})
	}
}

// toHighSierra rewrites a plain ISO 9660 image (no Joliet, no Rock Ridge)
// as High Sierra would have it: its primary descriptor in High Sierra's
// layout, the terminator with "CDROM", and in every directory record the
// flags moved to byte 24 (the date's zone offset there, byte 25
// reserved). No tool here writes High Sierra; the layouts are
// include/uapi/linux/iso_fs.h's.
func toHighSierra(t *testing.T, img string) {
	t.Helper()
	const ss = iso9660.SectorSize
	pokeImage(t, img, func(p []byte) {
		pvd := p[16*ss : 17*ss]
		if !iso9660.IsDescriptor(pvd) || pvd[0] != iso9660.TypePrimary {
			t.Fatal("sector 16 is not a primary descriptor")
		}
		hs := make([]byte, ss)
		hs[0], hs[7] = 16, 16 // its own block number, both byte orders
		hs[8], hs[14] = iso9660.TypePrimary, 1
		copy(hs[9:], iso9660.HSStandardID)
		for _, m := range [][3]int{{8, 16, 32}, {40, 48, 32}, {80, 88, 8}, {120, 128, 4}, {124, 132, 4}, {128, 136, 4}, {132, 140, 8}, {140, 148, 4}, {156, 180, 34}} {
			copy(hs[m[1]:m[1]+m[2]], pvd[m[0]:m[0]+m[2]])
		}
		root := hs[180:214]
		root[24], root[25] = root[25], 0
		extent, size := int(le32(root[2:])), int(le32(root[10:]))
		copy(pvd, hs)
		for s := 17; ; s++ {
			d := p[s*ss : (s+1)*ss]
			if !iso9660.IsDescriptor(d) {
				t.Fatalf("sector %d: no descriptor", s)
			}
			term := d[0] == iso9660.TypeTerminator
			clear(d)
			d[8], d[14] = iso9660.TypeTerminator, 1
			copy(d[9:], iso9660.HSStandardID)
			if term {
				break
			}
		}
		walkRecords(p, extent, size, 25, func(r []byte) { r[24], r[25] = r[25], 0 })
	})
}

func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

// TestReadHighSierra reads a High Sierra disc (made from a plain image by
// toHighSierra): Linux reads it with ISO 9660's rules, names mapped,
// no Rock Ridge; the tree must be the one xorriso extracts from the
// image before it was rewritten.
func TestReadHighSierra(t *testing.T) {
	src := smallTree(t)
	mkdir(t, filepath.Join(src, "dir", "sub"))
	if err := os.WriteFile(filepath.Join(src, "dir", "sub", "deeper.txt"), []byte("deeper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := testutil.XorrisoImage(t, src, "--norock")
	want := testutil.XorrisoView(t, img)
	toHighSierra(t, img)
	got := kernelView(t, img, "")
	n := compare(t, want, got, testutil.CompareOptions{
		Ignore: []string{"links", "xattrs", "mode", "uid", "gid"}, SkipPaths: []string{"."}, MtimeUnit: time.Second,
	})
	if n < 5 {
		t.Errorf("%d entries compared", n)
	}
	for p, e := range got {
		if p != "." && (e.Mode != 0o555 || e.Uid != 0) {
			t.Errorf("%s: mode %o uid %d, want 555 and root's", p, e.Mode, e.Uid)
		}
	}
}

// walkRecords calls fn on every directory record of the tree whose root
// directory's extent and size are given, each once (a directory's "."
// and ".." too), in an image of 2048-byte blocks; flags is where a
// record's flags are (25, or 24 for High Sierra).
func walkRecords(p []byte, extent, size, flags int, fn func(r []byte)) {
	const ss = iso9660.SectorSize
	seen := map[int]bool{}
	var walk func(extent, size int)
	walk = func(extent, size int) {
		if seen[extent] {
			return
		}
		seen[extent] = true
		dir := p[extent*ss : extent*ss+size]
		for off := 0; off < len(dir); {
			n := int(dir[off])
			if n == 0 {
				off = (off/ss + 1) * ss
				continue
			}
			r := dir[off : off+n]
			sub, name := r[flags]&iso9660.FlagDirectory != 0, r[33:33+int(r[32])]
			ext, sz := int(le32(r[2:])), int(le32(r[10:]))
			fn(r)
			if sub && !bytes.Equal(name, []byte{0}) && !bytes.Equal(name, []byte{1}) {
				walk(ext, sz)
			}
			off += n
		}
	}
	walk(extent, size)
}

// rescale rewrites an image of 2048-byte logical blocks as one of bs-byte
// blocks, its data where it was: every descriptor's logical block size,
// volume space size and root extent, and every record's extent (in both
// byte orders) multiplied by 2048/bs. ECMA-119 allows 512 and 1024
// (§6.1.2); Linux reads them (isofs_fill_super's zone sizes).
func rescale(t *testing.T, img string, bs int) {
	t.Helper()
	const ss = iso9660.SectorSize
	k := uint32(ss / bs)
	put733 := func(p []byte, v uint32) {
		p[0], p[1], p[2], p[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		p[4], p[5], p[6], p[7] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	pokeImage(t, img, func(p []byte) {
		for s := 16; ; s++ {
			d := p[s*ss : (s+1)*ss]
			if !iso9660.IsDescriptor(d) {
				t.Fatalf("sector %d: no descriptor", s)
			}
			if d[0] == iso9660.TypeTerminator {
				break
			}
			if d[0] != iso9660.TypePrimary && d[0] != iso9660.TypeSupplementary {
				continue
			}
			d[128], d[129], d[130], d[131] = byte(bs), byte(bs>>8), byte(bs>>8), byte(bs)
			put733(d[80:], le32(d[80:])*k)
			root := d[156:190]
			extent, size := int(le32(root[2:])), int(le32(root[10:]))
			put733(root[2:], uint32(extent)*k)
			walkRecords(p, extent, size, 25, func(r []byte) { put733(r[2:], le32(r[2:])*k) })
		}
	})
}

// TestReadBlockSizes reads images of 512- and 1024-byte logical blocks
// (made from xorriso's by rescale), with Joliet or the ISO 9660 names:
// the trees must be those xorriso extracts from the images before they
// were rewritten.
func TestReadBlockSizes(t *testing.T) {
	src := smallTree(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	if err := os.WriteFile(filepath.Join(src, "dir", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		if err := os.WriteFile(filepath.Join(src, "dir", fmt.Sprintf("many-files-with-long-names-%03d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		read []string
	}{{[]string{"--norock", "-J", "-joliet-long"}, nil}, {[]string{"--norock", "-iso-level", "3"}, nil}} {
		for _, bs := range []int{512, 1024} {
			t.Run(fmt.Sprintf("%s-%d", strings.Join(c.args, ""), bs), func(t *testing.T) {
				img := testutil.XorrisoImage(t, src, c.args...)
				want := testutil.XorrisoView(t, img, c.read...)
				rescale(t, img, bs)
				got := kernelView(t, img, "")
				n := compare(t, want, got, testutil.CompareOptions{
					Ignore: []string{"links", "xattrs", "mode", "uid", "gid"}, SkipPaths: []string{"."}, MtimeUnit: time.Second,
				})
				if n < 60 {
					t.Errorf("%d entries compared", n)
				}
			})
		}
	}
}
