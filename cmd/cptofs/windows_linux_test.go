package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// The Windows build under Wine (issue 19). Wine maps Windows calls onto
// the Linux filesystem under it, which bounds what these tests can see:
//   - symlinks: Wine 8's CreateSymbolicLink says it made one and makes
//     nothing (cpfromfs.exe checks, and reports each), and a Unix symlink
//     in a Wine directory is followed, so cptofs.exe copies its target;
//   - times: Wine sets them to the second (FILETIME holds 100 ns);
//   - modes: Wine shows a file read-only when it has no write bit, and
//     makes new files 0644-like; owners, ACLs and NTFS's own xattrs and
//     streams do not exist there;
//   - sparse files: Wine answers neither FSCTL_SET_SPARSE nor
//     FSCTL_QUERY_ALLOCATED_RANGES as NTFS does; what cpfromfs.exe leaves
//     unwritten stays a Linux hole, and cptofs.exe reads holes as zeros.

// wineCopy runs the Windows build of the command under Wine as name
// (cptofs or cpfromfs) with args.
func wineCopy(t *testing.T, w *testutil.Wine, name string, args ...string) result {
	t.Helper()
	exe := w.Build(t, "github.com/lklimg/lklimg/cmd/cptofs")
	named := filepath.Join(filepath.Dir(exe), name+".exe")
	if _, err := os.Stat(named); err != nil {
		data, err := os.ReadFile(exe)
		if err == nil {
			err = os.WriteFile(named, data, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return runCmd(t, w.Command(named, args...))
}

// wineRichImage returns the Wine, and an ext4 image of the rich tree
// (testutil's MakeTree, through mkfs.ext4 -d).
func wineRichImage(t *testing.T) (*testutil.Wine, string) {
	w := testutil.NeedWine(t)
	src, _ := shared.Get(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "64M")
	return w, img
}

// windowsRefuses lists the entries of tree cpfromfs.exe cannot make, with
// the reason's key words: the types Windows has no room for, the names
// it refuses, the symlinks Wine does not make; an entry under a refused
// directory is left out too.
func windowsRefuses(tree testutil.Tree) map[string]string {
	out := map[string]string{}
	for _, p := range tree.Paths() {
		e := tree[p]
		base := filepath.Base(p)
		switch {
		case p == ".":
		case e.Type == testutil.TypeSymlink:
			out[p] = "symlink"
		case e.Type != testutil.TypeFile && e.Type != testutil.TypeDir:
			out[p] = "Windows cannot hold"
		case !isUTF8(base) || strings.ContainsAny(base, `<>:"|?*\`):
			out[p] = "the name"
		}
	}
	return out
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// without returns tree less the paths of refused (and what is under
// them).
func without(tree testutil.Tree, refused map[string]string) testutil.Tree {
	out := testutil.Tree{}
	for p, e := range tree {
		drop := false
		for r := range refused {
			if p == r || strings.HasPrefix(p, r+"/") {
				drop = true
			}
		}
		if !drop {
			out[p] = e
		}
	}
	return out
}

// TestWindowsFrom: cpfromfs.exe copies the rich tree's image (testutil's
// MakeTree, through mkfs.ext4 -d) into a Wine directory; it equals Linux
// cpfromfs's copy entry by entry (names, types, sizes, contents, mtimes
// to Wine's second, hard-link groups, holes) but for what Windows cannot
// hold, each of which is reported on its own line: FIFOs, sockets and
// devices, names that are not UTF-8, symlinks (which Wine does not
// make). Modes, owners and xattrs it drops are listed with -v, counted
// without.
func TestWindowsFrom(t *testing.T) {
	w, img := wineRichImage(t)

	linuxOut := filepath.Join(t.TempDir(), "linux")
	mustRun(t, cpfromfs(t, "-i", img, "/", linuxOut), "cpfromfs")
	want := testutil.MustScanDir(t, linuxOut)

	winOut := filepath.Join(t.TempDir(), "windows")
	r := wineCopy(t, w, "cpfromfs", "-i", img, "/", winOut)
	if r.code != 1 {
		t.Fatalf("cpfromfs.exe: exit %d, want 1 (entries refused)\n%s", r.code, r.stderr)
	}
	got := testutil.MustScanDir(t, winOut)

	refused := windowsRefuses(want)
	reported := map[string]string{}
	for _, line := range lines(r.stderr) {
		rest, ok := strings.CutPrefix(line, "cpfromfs: /")
		if !ok {
			continue
		}
		if p, why, ok := strings.Cut(rest, ": "); ok {
			reported[p] = why
		}
	}
	for p, key := range refused {
		if !strings.Contains(reported[p], key) {
			t.Errorf("%s: reported %q, want a line with %q", p, reported[p], key)
		}
		delete(reported, p)
	}
	for p, why := range reported {
		t.Errorf("%s: reported %q, not a refusal this host makes", p, why)
	}
	if !strings.Contains(r.stderr, "entries copied without the owners, modes or xattrs this host cannot hold (-v lists them)") {
		t.Errorf("no count of the entries whose modes and xattrs were dropped:\n%s", r.stderr)
	}

	kept := without(want, refused)
	opts := testutil.CompareOptions{Ignore: []string{"mode", "uid", "gid", "xattrs"}, MtimeUnit: time.Second, HoleUnit: 4096}
	testutil.ExpectSame(t, "cpfromfs vs cpfromfs.exe", kept, got, opts)
	files, names := 0, map[uint64]int{}
	for _, e := range kept {
		if e.Type == testutil.TypeFile {
			files++
			names[e.Ino]++
		}
	}
	links := 0
	for _, n := range names {
		if n > 1 {
			links += n
		}
	}
	t.Logf("%d entries compared (%d files, %d of them hard links), %d refused and reported", len(kept), files, links, len(refused))
	if len(kept) < 2000 || links == 0 {
		t.Errorf("%d entries, %d hard links: the tree is not the rich one", len(kept), links)
	}

	// With -v, each entry that lost metadata is listed.
	r = wineCopy(t, w, "cpfromfs", "-v", "-i", img, "/small.txt", "/a", t.TempDir())
	if !strings.Contains(r.stderr, "cpfromfs: /a/b/c: not kept on this host: mode 0750") {
		t.Errorf("cpfromfs.exe -v does not list the dropped mode of /a/b/c:\n%s", r.stderr)
	}
}

// TestWindowsRefusals: an image whose names Windows refuses (device
// names with and without extensions, a stream "a:b", '\' and "..\" that
// would climb out, a drive "c:", trailing dots and spaces, names
// differing only in case): cpfromfs.exe reports each on its own line,
// copies the others, and writes nothing outside DST.
func TestWindowsRefusals(t *testing.T) {
	w := testutil.NeedWine(t)
	src := filepath.Join(t.TempDir(), "src")
	bad := []string{"CON", "aux.c", "nul.tar.gz", "COM1", "lpt9.txt", "a:b", "file.txt:stream", `..\..\escape`, `sub\evil`,
		"c:", "trail.", "space ", "Makefile-case/makefile", "dir/AUX"}
	good := []string{"fine.txt", "Makefile-case/Makefile", "dir/ok", "console", "com10"}
	for _, n := range append(append([]string{}, bad...), good...) {
		writeFile(t, filepath.Join(src, n), n+"\n")
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")

	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	r := wineCopy(t, w, "cpfromfs", "-i", img, "/", dst)
	if r.code != 1 {
		t.Fatalf("cpfromfs.exe: exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, n := range bad {
		if !strings.Contains(r.stderr, "cpfromfs: /"+n+": E") {
			t.Errorf("%q: not reported:\n%s", n, r.stderr)
		}
	}
	if got := len(lines(r.stderr)); got != len(bad)+2 { // and the count of dropped modes, and the total
		t.Errorf("%d lines of messages, want %d:\n%s", got, len(bad)+2, r.stderr)
	}
	got := testutil.MustScanDir(t, dst)
	for _, n := range good {
		if e := got[n]; e == nil || e.Size != int64(len(n)+1) {
			t.Errorf("%s: not copied: %+v", n, e)
		}
	}
	var files []string
	for _, p := range got.Paths() {
		if got[p].Type == testutil.TypeFile {
			files = append(files, p)
		}
	}
	if len(files) != len(good) {
		t.Errorf("DST holds %q, want only %q", files, good)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("outside DST: %v", entries)
	}
	for _, p := range []string{filepath.Join(parent, "escape"), filepath.Join(filepath.Dir(parent), "escape"), filepath.Join(dst, "sub")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

// TestWindowsTo: cptofs.exe copies a Wine directory (cpfromfs.exe's copy
// of the rich tree) into a new ext4 image; e2fsck -fn finds it clean, and
// our Linux kernel reads it back (cpfromfs) with the Wine directory's
// names, sizes, contents, mtimes (Wine's seconds) and hard links, and
// the modes cptofs.exe gives: 0755 directories, 0644 files, 0444 when
// Windows shows them read-only.
func TestWindowsTo(t *testing.T) {
	w, img := wineRichImage(t)
	winDir := filepath.Join(t.TempDir(), "windows")
	wineCopy(t, w, "cpfromfs", "-i", img, "/", winDir) // its refusals are TestWindowsFrom's
	if err := os.RemoveAll(filepath.Join(winDir, "lost+found")); err != nil {
		t.Fatal(err)
	}
	want := testutil.MustScanDir(t, winDir)

	out := testutil.Mke2fsImage(t, "64M")
	r := wineCopy(t, w, "cptofs", "-i", out, winDir+"/.", "/")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("cptofs.exe: exit %d\n%s", r.code, r.stderr)
	}
	testutil.E2fsckClean(t, out)
	back := filepath.Join(t.TempDir(), "back")
	mustRun(t, cpfromfs(t, "-i", out, "/", back), "cpfromfs of cptofs.exe's image")
	got := testutil.MustScanDir(t, back)
	delete(got, "lost+found")

	opts := testutil.CompareOptions{Ignore: []string{"mode", "uid", "gid", "xattrs"}, MtimeUnit: time.Second, SkipPaths: []string{"."}}
	testutil.ExpectSame(t, "Wine directory vs cptofs.exe's image", want, got, opts)
	for _, p := range want.Paths() {
		e, g := want[p], got[p]
		if g == nil || p == "." {
			continue
		}
		var mode uint32
		switch {
		case e.Type == testutil.TypeDir:
			mode = 0o755
		case e.Mode&0o222 == 0:
			mode = 0o444
		default:
			mode = 0o644
		}
		if g.Mode != mode {
			t.Errorf("%s: mode %04o, want %04o (Wine's %04o)", p, g.Mode, mode, e.Mode)
		}
	}
	t.Logf("%d entries compared", len(want)-1)
}

// TestWindowsToOwners: cptofs.exe -o and -g give every entry that owner
// and group in the image, as on Linux; without them, Windows has no Unix
// owner to give and the entries are the kernel's user's (root's, uid 0).
func TestWindowsToOwners(t *testing.T) {
	w := testutil.NeedWine(t)
	src := smallTree(t)
	if err := os.Remove(filepath.Join(src, "bin")); err != nil { // a symlink Wine would follow
		t.Fatal(err)
	}
	for _, c := range []struct {
		args     []string
		uid, gid string
	}{{nil, "0", "0"}, {[]string{"-o", "1000", "-g", "100"}, "1000", "100"}} {
		img := testutil.Mke2fsImage(t, "16M")
		r := wineCopy(t, w, "cptofs", append(append([]string{"-i", img}, c.args...), src+"/.", "/")...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("cptofs.exe %q: exit %d\n%s", c.args, r.code, r.stderr)
		}
		for _, p := range []string{"/etc", "/etc/hosts", "/usr/bin/tool"} {
			out := testutil.DebugfsOut(t, img, "stat "+p)
			if want := regexp.MustCompile(`User:\s+` + c.uid + `\s+Group:\s+` + c.gid + `\s`); !want.MatchString(out) {
				t.Errorf("%q: %s: want %v in\n%s", c.args, p, want, out)
			}
		}
	}
}

// TestWindowsFromFormats: cpfromfs.exe of other filesystems (a GPT
// partition of FAT32 filled by mcopy; squashfs by mksquashfs of a small
// tree with a hard link) equals Linux cpfromfs's copy entry by entry, as
// TestWindowsFrom compares them (mtimes to Wine's second).
func TestWindowsFromFormats(t *testing.T) {
	w := testutil.NeedWine(t)
	fat, _ := testutil.NewFATImage(t, testutil.FATCases()[len(testutil.FATCases())-1])
	small := smallTree(t)
	if err := os.Link(filepath.Join(small, "etc/hosts"), filepath.Join(small, "usr/hosts")); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"gpt-fat32": imageArgs(fat),
		"squashfs":  {"-i", testutil.SquashfsImage(t, small, "-comp", "zstd")},
	} {
		t.Run(name, func(t *testing.T) {
			linux, windows := filepath.Join(t.TempDir(), "linux"), filepath.Join(t.TempDir(), "windows")
			mustRun(t, cpfromfs(t, append(append([]string{}, args...), "/", linux)...), "cpfromfs")
			r := wineCopy(t, w, "cpfromfs", append(append([]string{}, args...), "/", windows)...)
			want, got := testutil.MustScanDir(t, linux), testutil.MustScanDir(t, windows)
			refused := windowsRefuses(want)
			if code := map[bool]int{true: 1, false: 0}[len(refused) > 0]; r.code != code {
				t.Errorf("cpfromfs.exe: exit %d, want %d\n%s", r.code, code, r.stderr)
			}
			opts := testutil.CompareOptions{Ignore: []string{"mode", "uid", "gid", "xattrs"}, MtimeUnit: time.Second, SkipPaths: []string{"."}}
			testutil.ExpectSame(t, "cpfromfs vs cpfromfs.exe", without(want, refused), got, opts)
			t.Logf("%d entries compared, %d refused", len(got)-1, len(refused))
		})
	}
}
