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
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// headers reads an archive's headers (names without "./").
func headers(t *testing.T, archive []byte) map[string]*tar.Header {
	t.Helper()
	hs := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs[h.Name] = h
	}
}

// names lists an archive's entry names in order.
func names(t *testing.T, archive []byte) []string {
	t.Helper()
	var ns []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ns
		}
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, h.Name)
	}
}

// TestCompression: -z, --zstd, -J and the output's suffix compress the
// archive; the host's gzip, zstd and xz decompress each to the very
// archive fs2tar writes uncompressed (so to the same tree); the same
// image gives the same compressed bytes run after run, on one core or
// all.
func TestCompression(t *testing.T) {
	dir := t.TempDir()
	src := smallTree(t)
	var big []byte // several gzip blocks
	for i := 0; len(big) < 3<<20; i++ {
		big = fmt.Appendf(big, "line %d of a file that compresses\n", i*i%100003)
	}
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, img, src, "16M")
	plain := mustExport(t, img)
	want, err := testutil.ScanTar(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tool string
		args []string // OUTPUT is appended
		out  string
	}{
		{"gzip", []string{"-z"}, "a.tar"},
		{"gzip", nil, "a.tar.gz"},
		{"gzip", nil, "a.tgz"},
		{"zstd", []string{"--zstd"}, "a"},
		{"zstd", nil, "a.tar.zst"},
		{"xz", []string{"-J"}, "a"},
		{"xz", nil, "a.tar.xz"},
	} {
		t.Run(tc.tool+"-"+strings.Join(tc.args, "")+tc.out, func(t *testing.T) {
			tool := testutil.Need(t, tc.tool)[0]
			out := filepath.Join(t.TempDir(), tc.out)
			args := append(append(slices.Clone(tc.args), img), out)
			if r := fs2tar(t, args...); r.code != 0 || r.stderr != "" {
				t.Fatalf("fs2tar %q: exit %d: %s", args, r.code, r.stderr)
			}
			cmd := exec.Command(tool, "-d", "-c", out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			decompressed, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s -d: %v\n%s", tool, err, stderr.String())
			}
			if !bytes.Equal(decompressed, plain) {
				t.Errorf("%s -d gives %d bytes, not the %d of the uncompressed archive", tool, len(decompressed), len(plain))
			}
			got, err := testutil.ScanTar(bytes.NewReader(decompressed))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range testutil.Compare(want, got, testutil.CompareOptions{}) {
				t.Errorf("uncompressed vs %s: %s", tc.tool, d)
			}
			first := testutil.FileSum(t, out)
			if st, _ := os.Stat(out); st.Size() >= int64(len(plain))/2 {
				t.Errorf("compressed to %d bytes of %d", st.Size(), len(plain))
			}
			for _, env := range [][]string{nil, {"GOMAXPROCS=1"}, {"GOMAXPROCS=4"}} {
				if r := fs2tarEnv(t, env, args...); r.code != 0 {
					t.Fatalf("again: exit %d: %s", r.code, r.stderr)
				}
				if testutil.FileSum(t, out) != first {
					t.Errorf("%v: the compressed archive differs from the first run's", env)
				}
			}
		})
	}
	r := fs2tar(t, "-z", "--zstd", img)
	if r.code != 2 || !strings.Contains(r.stderr, "choose one of -z/--gzip, --zstd and -J/--xz") {
		t.Errorf("-z --zstd: exit %d, %q", r.code, r.stderr)
	}
}

// TestDeterministic: the same image gives a byte-identical archive every
// time, whatever the kernel's memory (so its caching and readahead) and
// the number of cores.
func TestDeterministic(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "64M")
	first := mustExport(t, img)
	for _, run := range []struct {
		env  []string
		args []string
	}{
		{nil, nil},
		{[]string{"GOMAXPROCS=1"}, []string{"-m", "8"}},
		{[]string{"GOMAXPROCS=8"}, []string{"-m", "128"}},
	} {
		r := fs2tarEnv(t, run.env, append(run.args, img)...)
		if !bytes.Equal(r.stdout, first) {
			t.Errorf("%v %v: the archive differs (exit %d)", run.env, run.args, r.code)
		}
	}
}

// TestSelection: -C exports a subtree, through the image's own symlinks;
// -e leaves entries out with GNU tar's rules.
func TestSelection(t *testing.T) {
	src := smallTree(t) // etc/hostname, usr/bin/tool, bin -> usr/bin
	for _, name := range []string{"etc/hostname.bak", "usr/bin/tool.o", "usr/bin/keep,comma"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "4M")

	for _, dir := range []string{"usr/bin", "/usr/bin/", "bin", "/etc/../usr/./bin", "bin/../bin"} {
		got := names(t, mustExport(t, "-C", dir, img))
		if want := []string{"./", "./keep,comma", "./tool", "./tool.o"}; !slices.Equal(got, want) {
			t.Errorf("-C %s: %q, want %q", dir, got, want)
		}
	}
	for _, tc := range []struct {
		dir, want string
	}{
		{"nowhere", "fs2tar: -C nowhere: ENOENT"},
		{"etc/hostname", "fs2tar: -C etc/hostname: ENOTDIR"},
	} {
		if r := fs2tar(t, "-C", tc.dir, img); r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || len(r.stdout) != 0 {
			t.Errorf("-C %s: exit %d, %q", tc.dir, r.code, r.stderr)
		}
	}

	for _, p := range []string{"", "/", "./"} {
		if r := fs2tar(t, "-e", p, img); r.code != 2 || r.stderr != fmt.Sprintf("fs2tar: exclude: pattern %q names no entry (the root is never excluded)\n", p) {
			t.Errorf("-e %q: exit %d, %q", p, r.code, r.stderr)
		}
	}
	got := names(t, mustExport(t, "-e", "*.bak", "--exclude", "usr/bin/*.o", "-e", "lost+found", "-e", "keep,comma", img))
	want := []string{"./", "./bin", "./etc/", "./etc/hostname", "./usr/", "./usr/bin/", "./usr/bin/tool"}
	if !slices.Equal(got, want) {
		t.Errorf("-e: %q, want %q", got, want)
	}
	got = names(t, mustExport(t, "-e", "usr", "-e", "lost+found", img))
	if want := []string{"./", "./bin", "./etc/", "./etc/hostname", "./etc/hostname.bak"}; !slices.Equal(got, want) {
		t.Errorf("-e usr (a directory, not descended): %q, want %q", got, want)
	}
}

// TestRewriteFlags: owners, names from the image, clamped times,
// SOURCE_DATE_EPOCH and the xattr switches, on the quick start's image.
func TestRewriteFlags(t *testing.T) {
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	hs := headers(t, mustExport(t, "--owner-names", img))
	for name, want := range map[string][2]string{
		"./etc/passwd": {"root", ""}, "./home/user/README": {"user", ""}, "./home/user/": {"user", ""},
	} {
		if h := hs[name]; h == nil || h.Uname != want[0] || h.Gname != want[1] {
			t.Errorf("--owner-names: %s: %+v, want uname %q gname %q", name, h, want[0], want[1])
		}
	}
	hs = headers(t, mustExport(t, img))
	if h := hs["./home/user/README"]; h.Uname != "" || h.Uid != 1000 {
		t.Errorf("default: README owner %d %q", h.Uid, h.Uname)
	}
	if len(hs["./usr/bin/hello"].PAXRecords) == 0 || len(hs["./home/user/README"].PAXRecords) == 0 {
		t.Fatal("the image has no xattrs to drop")
	}

	hs = headers(t, mustExport(t, "--owner", "builder:42", "--group", "7", "--no-selinux", img))
	for name, h := range hs {
		if h.Uid != 42 || h.Gid != 7 || h.Uname != "builder" || h.Gname != "" {
			t.Errorf("--owner builder:42 --group 7: %s: %d:%d %q:%q", name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
	}
	if _, ok := hs["./usr/bin/hello"].PAXRecords["SCHILY.xattr.security.selinux"]; ok {
		t.Error("--no-selinux: the label is kept")
	}
	if _, ok := hs["./home/user/README"].PAXRecords["SCHILY.xattr.user.comment"]; !ok {
		t.Error("--no-selinux: user.comment dropped")
	}
	if out := mustExport(t, "--no-xattrs", img); bytes.Contains(out, []byte("SCHILY.xattr")) {
		t.Error("--no-xattrs: xattr records written")
	}

	// The image's times are 1700000000 (testdata/mkimage.sh).
	plain := mustExport(t, img)
	for _, run := range []struct {
		env  []string
		args []string
		sec  int64
	}{
		{nil, []string{"--mtime-clamp", "@1600000000"}, 1600000000},
		{nil, []string{"--mtime-clamp", "2020-09-13T12:26:40Z"}, 1600000000},
		{[]string{"SOURCE_DATE_EPOCH=1500000000"}, nil, 1500000000},
		{[]string{"SOURCE_DATE_EPOCH=1500000000"}, []string{"--mtime-clamp", "@1600000000"}, 1600000000},
		{[]string{"SOURCE_DATE_EPOCH=1800000000"}, nil, 1700000000}, // older entries keep their time
	} {
		r := fs2tarEnv(t, run.env, append(run.args, img)...)
		if r.code != 0 {
			t.Fatalf("%v %v: exit %d: %s", run.env, run.args, r.code, r.stderr)
		}
		for name, h := range headers(t, r.stdout) {
			if h.ModTime.Unix() != run.sec && h.Typeflag != tar.TypeLink {
				t.Errorf("%v %v: %s: mtime %d, want %d", run.env, run.args, name, h.ModTime.Unix(), run.sec)
			}
		}
		if run.sec == 1700000000 && !bytes.Equal(r.stdout, plain) {
			t.Errorf("%v: a clamp later than every entry changed the archive", run.env)
		}
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"SOURCE_DATE_EPOCH=tomorrow"}, nil, `fs2tar: SOURCE_DATE_EPOCH="tomorrow": not a number of seconds`},
		{nil, []string{"--mtime-clamp", "1600000000"}, "fs2tar: --mtime-clamp 1600000000: want @SECONDS or an RFC 3339 date"},
		{nil, []string{"--owner", "root"}, "fs2tar: --owner root: want a number"},
		{nil, []string{"--owner-names", "--numeric-owner"}, "fs2tar: --owner-names and --numeric-owner contradict"},
	} {
		r := fs2tarEnv(t, tc.env, append(tc.args, img)...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || len(r.stdout) != 0 {
			t.Errorf("%v %v: exit %d, %q", tc.env, tc.args, r.code, r.stderr)
		}
	}
}

// TestVerbose: -v lists each entry as GNU tar -cv does: on stderr when
// the archive goes to stdout, else on stdout; directories end in '/'.
func TestVerbose(t *testing.T) {
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	plain := mustExport(t, img)
	want := strings.Join(names(t, plain), "\n") + "\n"
	if !strings.Contains(want, "./etc/\n") || !strings.Contains(want, "./home/user/README.link\n") {
		t.Fatalf("names: %q", want)
	}
	r := fs2tar(t, "-v", img)
	if r.code != 0 || r.stderr != want || !bytes.Equal(r.stdout, plain) {
		t.Errorf("-v to stdout: exit %d, listing on stderr %q, archive equal %v", r.code, r.stderr, bytes.Equal(r.stdout, plain))
	}
	out := filepath.Join(t.TempDir(), "a.tar")
	r = fs2tar(t, "--verbose", img, out)
	if r.code != 0 || string(r.stdout) != want || r.stderr != "" {
		t.Errorf("-v to a file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestProgress: with stderr on a terminal (script(1) gives it one), the
// bar is drawn there and erased at the end; --no-progress turns it off.
// Every other test checks that nothing reaches a stderr that is not a
// terminal.
func TestProgress(t *testing.T) {
	script := testutil.Need(t, "script")[0]
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	out := filepath.Join(t.TempDir(), "a.tar")
	term := func(args ...string) string { return testutil.OnTerminal(t, script, bin, args...) }
	screen := term(img, out)
	if !strings.Contains(screen, "\r0 B / ") || !strings.Contains(screen, " entries ") || !strings.HasSuffix(screen, "\r\x1b[K") {
		t.Errorf("no bar drawn and erased: %q", screen)
	}
	// -v to a file: the listing on stdout, the same terminal: each name
	// on a line of its own, the bar erased before it.
	screen = term("-v", img, out)
	if !strings.Contains(screen, "\r\x1b[K./etc/passwd\r\n") {
		t.Errorf("-v under the bar: %q", screen)
	}
	if screen := term("--no-progress", img, out); screen != "" {
		t.Errorf("--no-progress: %q", screen)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, mustExport(t, img)) {
		t.Errorf("the archive written under a terminal differs (%v)", err)
	}
}

// TestFormatGNU: --format gnu writes GNU headers for the same entries,
// and says once that xattrs were left out.
func TestFormatGNU(t *testing.T) {
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	pax := mustExport(t, img)
	r := fs2tar(t, "--format", "gnu", img)
	if r.code != 0 || r.stderr != "fs2tar: --format gnu cannot hold extended attributes: those of 2 entries were left out (--format pax keeps them; --no-xattrs silences this)\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if !slices.Equal(names(t, r.stdout), names(t, pax)) {
		t.Errorf("entries %q, pax has %q", names(t, r.stdout), names(t, pax))
	}
	for name, h := range headers(t, r.stdout) {
		if h.Format != tar.FormatGNU || len(h.PAXRecords) != 0 {
			t.Errorf("%s: format %v, records %v", name, h.Format, h.PAXRecords)
		}
	}
	got, err := testutil.ScanTar(bytes.NewReader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := testutil.ScanTar(bytes.NewReader(pax))
	for _, d := range testutil.Compare(want, got, testutil.CompareOptions{Ignore: []string{"xattrs"}}) {
		t.Errorf("pax vs gnu: %s", d)
	}
	if r := fs2tar(t, "--format", "gnu", "--no-xattrs", img); r.code != 0 || r.stderr != "" {
		t.Errorf("--no-xattrs: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := fs2tar(t, "--format", "v7", img); r.code != 2 || !strings.HasPrefix(r.stderr, "fs2tar: --format: unknown tar format \"v7\"") {
		t.Errorf("--format v7: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestExcludeLikeGNUTar: the oracle for -e is GNU tar's --exclude on the
// same tree, its members named relative to the root (tar -C src -cf -
// etc usr ...: fs2tar matches paths without their "./", see
// archive.Excluder): the same patterns leave out the same entries.
// Patterns with a leading "./" or "/" or a trailing '/', which match
// nothing there and are taken as meant here, are tested apart.
func TestExcludeLikeGNUTar(t *testing.T) {
	tarPath := testutil.Need(t, "tar")[0]
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{"etc/sub", "usr/etc", "a/b", "var/cache/x", "lost+found", "[odd]"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/a.conf", "etc/sub/b.conf", "usr/etc/c.conf", "etc/passwd", "a/b/c",
		"passwd-x", "var/cache/x/y", ".hidden", "a/.b", "[odd]/q", "usr/x?y", "usr/x*y"} {
		if err := os.WriteFile(filepath.Join(src, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "4M")
	for _, patterns := range [][]string{
		{"etc/*.conf", "a*c", "passwd"},
		{"*/cache", ".*"},
		{"usr/x\\?y"},
		{"[[]odd]", "*b"},
		{"?", "*/c*"},
		{"[!a-z]*", "usr/*"},
		{"var/cache", "a"},
	} {
		top, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"-cf", "-", "-C", src}
		fsArgs := []string{}
		for _, p := range patterns {
			args = append(args, "--exclude="+p)
			fsArgs = append(fsArgs, "-e", p)
		}
		for _, d := range top {
			args = append(args, d.Name())
		}
		var gnu, ours []string
		for _, n := range names(t, testutil.Run(t, tarPath, args...)) {
			gnu = append(gnu, strings.TrimSuffix(n, "/"))
		}
		for _, n := range names(t, mustExport(t, append(fsArgs, img)...))[1:] { // less "./"
			ours = append(ours, strings.TrimSuffix(strings.TrimPrefix(n, "./"), "/"))
		}
		slices.Sort(gnu)
		slices.Sort(ours)
		if !slices.Equal(gnu, ours) {
			t.Errorf("-e %q:\nGNU tar: %q\nfs2tar:  %q", patterns, gnu, ours)
		}
	}
	got := names(t, mustExport(t, "-e", "var/cache/", "-e", "/etc/passwd", "-e", "./usr/etc", img))
	if !slices.Contains(got, "./var/") || slices.Contains(got, "./var/cache/") || slices.Contains(got, "./etc/passwd") ||
		slices.Contains(got, "./usr/etc/") || !slices.Contains(got, "./etc/a.conf") || len(got) < 15 {
		t.Errorf("-e var/cache/ -e /etc/passwd -e ./usr/etc: %q", got)
	}
}
