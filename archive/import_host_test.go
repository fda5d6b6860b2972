//go:build linux

package archive

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

var _ ImportSyscalls = hostSys{}
var _ ImportSyscalls = (*kernel.Kernel)(nil)

// importFile imports the archive file into root through sys and returns
// Import's error and the reports.
func importFile(t *testing.T, sys ImportSyscalls, root, archive string, opts ImportOptions) (error, []string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reports []string
	opts.Report = func(err error) { reports = append(reports, err.Error()) }
	return Import(sys, root, f, opts), reports
}

// formatOptions is what the comparison with the source tree leaves out
// for an archive in format: what the format cannot hold. GNU tar does not
// archive a FIFO's second name as a hard link.
func formatOptions(format string) testutil.CompareOptions {
	o := testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}, HoleUnit: 4096}
	if !strings.HasPrefix(format, "bsdtar") {
		o.SkipPaths = []string{"hard/fifo-link"}
	}
	switch format {
	case "gnu", "gnu-incremental", "oldgnu", "bsdtar-gnu":
		o.Ignore = []string{"xattrs"}
		o.MtimeUnit = time.Second
	}
	if format == "bsdtar-gnu" {
		o.HoleUnit = 0 // bsdtar writes no sparse entries in GNU format
	}
	return o
}

// testImportHost imports the tools' archives of the source tree into a
// host directory through the host's own kernel (the same syscalls the
// library kernel answers): the result is the source tree, entry by entry,
// holes included. (The reader's test reads every format; the ext4 test
// imports every format through the library kernel.)
func testImportHost(t *testing.T, s *toolTree) {
	testutil.NeedLoop(t) // root: owners, devices, trusted.* xattrs
	want := s.tree
	for _, format := range []string{"pax-0.1", "oldgnu", "bsdtar"} {
		t.Run(format, func(t *testing.T) {
			archive := s.archive(t, format)
			dst := t.TempDir()
			err, reports := importFile(t, hostSys{}, dst, archive, ImportOptions{})
			if err != nil || len(reports) > 0 {
				t.Fatalf("Import: %v\n%s", err, strings.Join(reports, "\n"))
			}
			got, err := testutil.ScanDir(dst)
			if err != nil {
				t.Fatal(err)
			}
			o := formatOptions(format)
			if strings.HasPrefix(format, "bsdtar") {
				o.SkipPaths = append(o.SkipPaths, bsdtarQuirks(got, want, format)...)
			}
			for _, d := range testutil.Compare(want, got, o) {
				t.Errorf("source vs Import: %s", d)
			}
		})
	}
}

// hostExtract extracts an archive with GNU tar as root keeps everything;
// its one complaint allowed is the replacement cases' file over a
// directory that is not empty.
func hostExtract(t *testing.T, archive, dst string) {
	t.Helper()
	tar := testutil.Need(t, "tar")[0]
	out, err := exec.Command(tar, "-x", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-p",
		"-f", archive, "-C", dst).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "./full: Cannot open: File exists") {
		t.Errorf("GNU tar -x: %v\n%s", err, out)
	}
}

// writeEntries writes an archive of entries with Writer to a file.
func writeEntries(t *testing.T, entries []entry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, writeArchive(t, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportReplaceHost: the replacement cases give what GNU tar's
// extraction of the same archive gives, on the host.
func TestImportReplaceHost(t *testing.T) {
	testutil.NeedLoop(t)
	archive := writeEntries(t, replaceEntries())
	want := t.TempDir()
	hostExtract(t, archive, want)
	got := t.TempDir()
	err, reports := importFile(t, hostSys{}, got, archive, ImportOptions{})
	checkReplaceReports(t, err, reports)
	compareReplace(t, testutil.MustScanDir(t, want), testutil.MustScanDir(t, got))
}

// checkReplaceReports: of the replacement cases, only the file over a
// directory that is not empty fails, as with GNU tar ("Cannot open: File
// exists").
func checkReplaceReports(t *testing.T, err error, reports []string) {
	t.Helper()
	if !errors.Is(err, ErrIncomplete) || len(reports) != 1 || !strings.HasPrefix(reports[0], "./full: create: ENOTEMPTY") {
		t.Errorf("Import: %v %q", err, reports)
	}
}

// compareReplace compares GNU tar's extraction with Import's; the
// parents GNU tar and Import make for "missing/parents" are stamped with
// the time they were made.
func compareReplace(t *testing.T, want, got testutil.Tree) {
	t.Helper()
	for _, p := range []string{"missing", "missing/parents"} {
		if got[p] != nil && want[p] != nil {
			got[p].Mtime = want[p].Mtime
		}
	}
	// GNU tar sets a directory's times once an entry outside it comes:
	// d, whose second entry is followed by others, then by d/setuid,
	// keeps the time d/setuid was made. Import sets them at the end: d
	// has its last entry's time.
	if e := got["d"]; e == nil || e.Mtime != 5000_000000005 {
		t.Errorf("d: %+v: not the time of its last entry", e)
	} else if want["d"] != nil {
		e.Mtime = want["d"].Mtime
	}
	for _, d := range testutil.Compare(want, got, testutil.CompareOptions{SkipPaths: []string{"lost+found"}}) {
		t.Errorf("GNU tar -x vs Import: %s", d)
	}
	if e := got["f-link"]; e == nil || e.Size != 5 {
		t.Errorf("f-link: %+v: the first f's content is lost", e)
	}
}

// TestImportNames: absolute names are made relative, ".." refused, a
// symlink among the parents is followed inside root only, a link to an
// unknown entry fails, a name too long fails; each failure is reported
// and the rest imported. On the host, then through the library kernel on
// ext4.
func TestImportNames(t *testing.T) {
	testutil.NeedLoop(t)
	outside := t.TempDir()
	entries := []entry{
		{h: Header{Name: "/abs/file", Typeflag: TypeReg, Mode: 0o644, Size: 3}, data: []byte("abs")},
		{h: Header{Name: "a/../../escape", Typeflag: TypeReg, Mode: 0o644, Size: 3}, data: []byte("esc")},
		{h: Header{Name: "real/", Typeflag: TypeDir, Mode: 0o755}},
		{h: Header{Name: "up", Typeflag: TypeSymlink, Linkname: "../../../../../../../real"}},
		{h: Header{Name: "up/through-symlink", Typeflag: TypeReg, Mode: 0o644, Size: 3}, data: []byte("sym")},
		{h: Header{Name: "out", Typeflag: TypeSymlink, Linkname: outside}},
		{h: Header{Name: "out/x", Typeflag: TypeReg, Mode: 0o644, Size: 3}, data: []byte("out")},
		{h: Header{Name: "root", Typeflag: TypeSymlink, Linkname: "/"}},
		{h: Header{Name: "root/via-root", Typeflag: TypeReg, Mode: 0o644, Size: 3}, data: []byte("via")},
		{h: Header{Name: "nolink", Typeflag: TypeLink, Linkname: "not/there"}},
		{h: Header{Name: "d/" + strings.Repeat("n", 256), Typeflag: TypeReg, Mode: 0o644}},
		{h: Header{Name: "./", Typeflag: TypeReg}},
		{h: Header{Name: "last", Typeflag: TypeReg, Mode: 0o644, Size: 4}, data: []byte("last")},
	}
	archive := writeEntries(t, entries)
	// out/x: "out" names the outside directory, which inside root (as
	// a chrooted process sees it) does not exist.
	wantReports := []string{"a/../../escape: member name contains '..'",
		"out/x: parent directory: ENOENT",
		`nolink: link: no earlier entry "not/there" to link to: ENOENT`,
		"d/" + strings.Repeat("n", 256) + ": create: ENAMETOOLONG",
		"./: EEXIST (the root can only be a directory)"}
	check := func(what string, err error, reports []string, dst string) {
		t.Helper()
		var inc *ImportIncompleteError
		if !errors.As(err, &inc) || !errors.Is(err, ErrIncomplete) || inc.Failed != len(wantReports) {
			t.Errorf("%s: Import: %v", what, err)
		}
		ok := len(reports) == len(wantReports)
		for i := 0; ok && i < len(reports); i++ {
			ok = strings.HasPrefix(reports[i], wantReports[i])
		}
		if !ok {
			t.Errorf("%s: reports:\n%s\nwant:\n%s", what, strings.Join(reports, "\n"), strings.Join(wantReports, "\n"))
		}
		for p, want := range map[string]string{"abs/file": "abs", "real/through-symlink": "sym", "via-root": "via", "last": "last"} {
			if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
				t.Errorf("%s: %s: %q %v", what, p, b, err)
			}
		}
		if names, _ := os.ReadDir(outside); len(names) != 0 {
			t.Errorf("%s: written outside root: %v", what, names)
		}
	}
	dst := t.TempDir()
	err, reports := importFile(t, hostSys{}, dst, archive, ImportOptions{})
	check("host", err, reports, dst)
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); err == nil {
		t.Error("escape written outside root")
	}

	img := mkfsImage(t, "16M")
	k, dir := bootImage(t, img)
	err, reports = importFile(t, k, dir, archive, ImportOptions{})
	umountImage(t, k, dir)
	fsckAndMount(t, img, func(mnt string) { check("ext4", err, reports, mnt) })
}

// TestImportWhiteoutsHost: with "overlay", ".wh.NAME" replaces NAME (a
// file, or a directory with its contents) by a 0:0 character device, and
// ".wh..wh..opq" makes its directory opaque; without it they are files.
func TestImportWhiteoutsHost(t *testing.T) {
	testutil.NeedLoop(t)
	entries := whiteoutEntries()
	for _, mode := range []string{"overlay", ""} {
		dst := t.TempDir()
		if err, reports := importFile(t, hostSys{}, dst, writeEntries(t, entries), ImportOptions{Whiteouts: mode}); err != nil || len(reports) > 0 {
			t.Fatalf("%q: Import: %v %q", mode, err, reports)
		}
		checkWhiteouts(t, mode, testutil.MustScanDir(t, dst))
	}
}

func checkWhiteouts(t *testing.T, mode string, got testutil.Tree) {
	t.Helper()
	if mode == "" {
		for _, p := range []string{"etc/.wh.gone", "etc/gone", "etc/tree/sub/f", "opaque/.wh..wh..opq"} {
			if got[p] == nil || got[p].Type != testutil.TypeFile {
				t.Errorf("no whiteouts: %s: %+v", p, got[p])
			}
		}
		return
	}
	for p, owner := range map[string]uint32{"etc/gone": 5, "etc/tree": 0, "etc/never-there": 0} {
		e := got[p]
		if e == nil || e.Type != testutil.TypeChar || e.RdevMajor != 0 || e.RdevMinor != 0 || e.Mode != 0 || e.Uid != owner {
			t.Errorf("whiteout %s: %+v", p, e)
		}
	}
	for _, p := range []string{"etc/.wh.gone", "etc/tree/sub/f", "etc/tree/sub", "opaque/.wh..wh..opq"} {
		if got[p] != nil {
			t.Errorf("%s: still there", p)
		}
	}
	if e := got["opaque"]; e == nil || string(e.Xattrs["trusted.overlay.opaque"]) != "y" || got["opaque/kept"] == nil {
		t.Errorf("opaque: %+v", e)
	}
	if e := got["etc"]; e == nil || e.Mtime != 100e9 {
		t.Errorf("etc: %+v: its time is not the archive's", e)
	}
}

// TestImportDamaged: an archive cut in a file's data stops the import
// with the reader's error, naming the entry; the directories imported
// still get their metadata.
func TestImportDamaged(t *testing.T) {
	entries := []entry{
		{h: Header{Name: "d/", Typeflag: TypeDir, Mode: 0o700, Mtime: Time{1234, 0}}},
		{h: Header{Name: "d/f", Typeflag: TypeReg, Mode: 0o644, Size: 3000}, data: make([]byte, 3000)},
	}
	data := writeArchive(t, entries)
	p := filepath.Join(t.TempDir(), "cut.tar")
	if err := os.WriteFile(p, data[:3*blockSize], 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err, reports := importFile(t, hostSys{}, dst, p, ImportOptions{})
	var stop *ImportStoppedError
	if !errors.As(err, &stop) || !errors.Is(err, ErrFormat) || stop.Path != "d/f" || len(reports) != 0 {
		t.Fatalf("Import: %v, reports %q", err, reports)
	}
	if !strings.Contains(err.Error(), "ends inside the entry") {
		t.Errorf("message: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d")); err != nil || fi.ModTime().Unix() != 1234 || fi.Mode().Perm() != 0o700 {
		t.Errorf("d: %v %v", fi, err)
	}
}

// The library kernel, on an ext4 image made by the host's mkfs.ext4.

// mkfsImage makes an empty ext4 image of size bytes with the host's
// mkfs.ext4.
func mkfsImage(t *testing.T, size string, opts ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", size, opts...)
	return img
}

// bootImage boots a kernel with img attached read-write and mounted; the
// caller unmounts (umountImage) before checking the image.
func bootImage(t *testing.T, img string) (*kernel.Kernel, string) {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	dev, err := k.AddDisk(img, kernel.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := k.MountDev(dev, "ext4", 0, "")
	if err != nil {
		t.Fatalf("mount: %v\n%s", err, k.Dmesg())
	}
	var st abi.Statfs
	if err := k.Statfs(dir, &st); err != nil || st.Flags&abi.MS_RDONLY != 0 {
		t.Fatalf("mounted read-only (%v)\n%s", err, k.Dmesg())
	}
	return k, dir
}

func umountImage(t *testing.T, k *kernel.Kernel, dir string) {
	t.Helper()
	if err := k.Umount(dir, 0); err != nil {
		t.Fatalf("umount: %v\n%s", err, k.Dmesg())
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
}

// fsckAndMount runs e2fsck -fn on img (it must find nothing), then look
// on img loop-mounted read-only.
func fsckAndMount(t *testing.T, img string, look func(mnt string)) {
	t.Helper()
	testutil.E2fsckClean(t, img)
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	look(mnt)
}

// testImportExt4 imports GNU tar's and bsdtar's archives of the source
// tree, in every format, into fresh ext4 images through the library
// kernel; e2fsck finds nothing, and the host kernel shows the source tree
// (what the format keeps of it), holes included; for ustar and v7, which
// leave entries out, what Reader reads of the archive. Only the stored
// data is written: a sparse entry's regions, never its holes.
func testImportExt4(t *testing.T, s *toolTree) {
	source := s.tree
	for _, format := range slices.Sorted(maps.Keys(toolFormats)) {
		t.Run(format, func(t *testing.T) {
			archive := s.archive(t, format)
			raw, err := os.ReadFile(archive)
			if err != nil {
				t.Fatal(err)
			}
			read := readerTree(t, raw)
			img := mkfsImage(t, "96M")
			k, dir := bootImage(t, img)
			var entries int
			var written int64
			err, reports := importFile(t, k, dir, archive, ImportOptions{
				OnEntry: func(*Header) { entries++ },
				OnBytes: func(n int64) { written += n },
			})
			if err != nil || len(reports) > 0 {
				t.Fatalf("Import: %v\n%s\n%s", err, strings.Join(reports, "\n"), k.Dmesg())
			}
			umountImage(t, k, dir)
			got := testutil.FsckView(t, img)
			want, o := source, formatOptions(format)
			if format == "ustar" || format == "v7" {
				want = read
				o = testutil.CompareOptions{}
			}
			o.SkipPaths = append(o.SkipPaths, "lost+found")
			if strings.HasPrefix(format, "bsdtar") {
				o.SkipPaths = append(o.SkipPaths, bsdtarQuirks(got, want, format)...)
			}
			for _, d := range testutil.Compare(want, got, o) {
				t.Errorf("source vs ext4 image: %s", d)
			}
			if entries != len(read) {
				t.Errorf("OnEntry: %d entries, the archive has %d", entries, len(read))
			}
			var stored int64
			seen := map[uint64]bool{}
			for _, e := range read {
				if e.Type != testutil.TypeFile || seen[e.Ino] {
					continue
				}
				seen[e.Ino] = true
				if !e.Sparse {
					stored += e.Size
				}
				for _, r := range e.Data {
					stored += r.End - r.Start
				}
			}
			if written != stored {
				t.Errorf("OnBytes: %d bytes written, the archive stores %d", written, stored)
			}
		})
	}
}

// TestImportReplaceExt4: the replacement cases and the whiteouts through
// the library kernel on ext4 give what GNU tar gives on the host.
func TestImportReplaceExt4(t *testing.T) {
	testutil.NeedLoop(t)
	archive := writeEntries(t, replaceEntries())
	want := t.TempDir()
	hostExtract(t, archive, want)
	img := mkfsImage(t, "16M")
	k, dir := bootImage(t, img)
	err, reports := importFile(t, k, dir, archive, ImportOptions{})
	checkReplaceReports(t, err, reports)
	umountImage(t, k, dir)
	compareReplace(t, testutil.MustScanDir(t, want), testutil.FsckView(t, img))

	img = mkfsImage(t, "16M")
	k, dir = bootImage(t, img)
	if err, reports := importFile(t, k, dir, writeEntries(t, whiteoutEntries()), ImportOptions{Whiteouts: "overlay"}); err != nil || len(reports) > 0 {
		t.Fatalf("Import: %v %q", err, reports)
	}
	umountImage(t, k, dir)
	checkWhiteouts(t, "overlay", testutil.FsckView(t, img))
}

// TestImportENOSPC: an archive larger than the filesystem stops the
// import at the file that did not fit, with ENOSPC said plainly; the
// image is still consistent.
func TestImportENOSPC(t *testing.T) {
	var entries []entry
	for i := range 8 {
		entries = append(entries, entry{h: Header{Name: "f" + string(rune('0'+i)), Typeflag: TypeReg, Mode: 0o644, Size: 1 << 20},
			data: make([]byte, 1<<20)})
	}
	img := mkfsImage(t, "4M")
	k, dir := bootImage(t, img)
	err, reports := importFile(t, k, dir, writeEntries(t, entries), ImportOptions{})
	var stop *ImportStoppedError
	if !errors.As(err, &stop) || !errors.Is(err, abi.ENOSPC) || len(reports) != 0 ||
		!strings.Contains(err.Error(), "the filesystem is full") || stop.Imported == 0 || stop.Imported >= 8 {
		t.Fatalf("Import: %v, reports %q", err, reports)
	}
	umountImage(t, k, dir)
	testutil.FsckView(t, img)
}

// TestImportHugeSparse: a 10 GiB sparse file (its size base-256 in GNU
// format, a pax record in pax) with a few KiB of data fits a 16 MiB
// image: only the data is written, the holes stay holes.
func TestImportHugeSparse(t *testing.T) {
	const size = 10 << 30
	data := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	regions := []Extent{{0, 4096}, {5 << 30, 4096}, {size - 4096, 4096}}
	for _, format := range []Format{FormatPAX, FormatGNU} {
		var buf bytes.Buffer
		tw := NewWriter(&buf)
		tw.SetFormat(format)
		if err := tw.WriteHeader(&Header{Name: "./huge", Typeflag: TypeReg, Mode: 0o644, Size: size, Sparse: regions}); err != nil {
			t.Fatal(err)
		}
		for range regions {
			tw.Write(data)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "huge.tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		img := mkfsImage(t, "16M")
		k, dir := bootImage(t, img)
		if err, reports := importFile(t, k, dir, p, ImportOptions{}); err != nil || len(reports) > 0 {
			t.Fatalf("format %d: Import: %v %q", format, err, reports)
		}
		umountImage(t, k, dir)
		// The host's view of the data regions (not a scan: it would hash
		// 10 GiB of zeros).
		var got []testutil.Range
		var gotSize int64
		var content []byte
		fsckAndMount(t, img, func(mnt string) { got, gotSize, content = hostRegions(t, filepath.Join(mnt, "huge")) })
		want := []testutil.Range{{Start: 0, End: 4096}, {Start: 5 << 30, End: 5<<30 + 4096}, {Start: size - 4096, End: size}}
		if gotSize != size || !slices.Equal(got, want) || !bytes.Equal(content, bytes.Repeat(data, 3)) {
			t.Errorf("format %d: huge: size %d, data regions %v", format, gotSize, got)
		}
	}
}

// hostRegions returns the data regions of a host file (SEEK_DATA,
// SEEK_HOLE), its size and the regions' bytes.
func hostRegions(t *testing.T, p string) ([]testutil.Range, int64, []byte) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var rs []testutil.Range
	var content []byte
	for off := int64(0); off < fi.Size(); {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			break
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, end-start)
		if _, err := f.ReadAt(b, start); err != nil {
			t.Fatal(err)
		}
		content = append(content, b...)
		rs = append(rs, testutil.Range{Start: start, End: end})
		off = end
	}
	return rs, fi.Size(), content
}

// TestImportXattrTooBig: xattrs that do not fit beside an inode (ext4
// says ENOSPC) fail their entry, reported once, not the import: the
// others of the entry, its times and the next entries are set.
func TestImportXattrTooBig(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3000) // more than a 1 KiB block holds
	a := writeEntries(t, []entry{
		{h: Header{Name: "big", Typeflag: TypeReg, Mode: 0o640, Mtime: Time{1234, 0}, Xattrs: []Xattr{
			{"user.a-big", big}, {"user.b-small", []byte("fits")}, {"user.c-big", big}}}},
		{h: Header{Name: "after", Typeflag: TypeReg, Mode: 0o644}},
	})
	img := mkfsImage(t, "16M", "-b", "1024")
	k, dir := bootImage(t, img)
	err, reports := importFile(t, k, dir, a, ImportOptions{})
	if !errors.Is(err, ErrIncomplete) || len(reports) != 1 ||
		!strings.HasPrefix(reports[0], "big: setxattr user.a-big, user.c-big: ENOSPC") {
		t.Errorf("Import: %v %q", err, reports)
	}
	umountImage(t, k, dir)
	got := testutil.FsckView(t, img)
	if e := got["big"]; e == nil || e.Mtime != 1234e9 || e.Mode != 0o640 || string(e.Xattrs["user.b-small"]) != "fits" || len(e.Xattrs) != 1 {
		t.Errorf("big: %+v", e)
	}
	if got["after"] == nil {
		t.Error("the import stopped")
	}
}
