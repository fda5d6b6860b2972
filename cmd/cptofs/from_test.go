//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestFromTree is cpfromfs's acceptance test: the full test tree (every
// entry type and kind of metadata) goes into an image with mkfs.ext4 -d;
// cpfromfs copies the image's root out; the copy must equal the source
// entry by entry (names, types, modes, owners, mtimes with ns, contents,
// symlinks, devices, xattrs, hard-link groups, holes) and what the host
// kernel shows of the image when it mounts it. The image is not changed.
func TestFromTree(t *testing.T) {
	src, want := shared.Get(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "64M")
	retimed := testutil.Retime(t, img, want)
	before := readFile(t, img)

	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, cpfromfs(t, "-i", img, "/", out), "cpfromfs / OUT")
	if readFile(t, img) != before {
		t.Fatal("the image changed")
	}
	got := testutil.MustScanDir(t, out)

	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found", "."}, HoleUnit: 4096}
	if os.Geteuid() != 0 {
		// As a user, owners are the user's, and trusted.* cannot be set.
		opts.Ignore = append(opts.Ignore, "uid", "gid")
	}
	if !retimed {
		opts.Ignore = append(opts.Ignore, "mtime")
	}
	testutil.ExpectSame(t, "source vs cpfromfs", want, got, opts)
	if _, ok := got["lost+found"]; !ok {
		t.Error("lost+found was not copied")
	}
	// Holes stay holes: the sparse files' data regions are the source's.
	for _, p := range []string{"sparse/hole-start", "sparse/hole-middle", "sparse/all-hole", "sparse/many-holes"} {
		if e := got[p]; e == nil || len(e.Data) != len(want[p].Data) {
			t.Errorf("%s: data regions %v, want %v", p, e.Data, want[p].Data)
		}
	}

	t.Run("loop", func(t *testing.T) {
		view := testutil.LoopView(t, img)
		testutil.ExpectSame(t, "mount -o loop vs cpfromfs", view, got, testutil.CompareOptions{SkipPaths: []string{"."}, HoleUnit: 4096})
	})
}

// TestFromSources: several sources, patterns (matched in the image, on
// its names, with path.Match), "dir/." and symlinked directories on the
// way resolved inside the image; --from on the cptofs name; -v lists each
// entry; hard links between separate sources stay links.
func TestFromSources(t *testing.T) {
	src := smallTree(t)
	if err := os.Link(filepath.Join(src, "etc/hosts"), filepath.Join(src, "usr/lib/hosts-link")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")

	out := t.TempDir()
	r := cpfromfs(t, "-v", "-i", img, "/etc/host*", "/bin/tool", "usr/lib/.", out)
	mustRun(t, r, "cpfromfs patterns")
	var names []string
	for _, e := range testutil.MustScanDir(t, out) {
		names = append(names, e.Path)
	}
	slices.Sort(names)
	wantNames := []string{".", "hostname", "hosts", "hosts-link", "libc.so", "tool"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("copied %q, want %q", names, wantNames)
	}
	wantList := []string{
		"/etc/hostname -> " + out + "/hostname",
		"/etc/hosts -> " + out + "/hosts",
		"/usr/bin/tool -> " + out + "/tool",
		"/usr/lib -> " + out,
		"/usr/lib/hosts-link -> " + out + "/hosts-link",
		"/usr/lib/libc.so -> " + out + "/libc.so",
	}
	if got := lines(r.stdout); !slices.Equal(got, wantList) {
		t.Errorf("-v listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	tree := testutil.MustScanDir(t, out)
	if tree["hosts"].Ino != tree["hosts-link"].Ino {
		t.Error("hosts and hosts-link (two sources) are not one file")
	}

	// One source to a new name; --from with the cptofs name.
	single := filepath.Join(t.TempDir(), "renamed")
	mustRun(t, cptofs(t, "--from", "-i", img, "/etc", single), "cptofs --from")
	if readFile(t, filepath.Join(single, "hostname")) != "box\n" {
		t.Error("--from /etc NEW: hostname not copied")
	}

	// A missing source and a pattern matching nothing are reported; the
	// rest is copied; exit 1.
	out2 := t.TempDir()
	r = cpfromfs(t, "-i", img, "/nope", "/etc/*.conf", "/etc/hosts", out2)
	if r.code != 1 || !strings.Contains(r.stderr, "cpfromfs: /nope: ENOENT") ||
		!strings.Contains(r.stderr, "cpfromfs: /etc/*.conf: no match") {
		t.Errorf("missing sources: exit %d, stderr %q", r.code, r.stderr)
	}
	if readFile(t, filepath.Join(out2, "hosts")) != "127.0.0.1 localhost\n" {
		t.Error("the source that exists was not copied")
	}
	// Several sources need a directory.
	r = cpfromfs(t, "-i", img, "/etc/hosts", "/etc/hostname", filepath.Join(out2, "hosts"))
	if r.code != 1 || !strings.Contains(r.stderr, "hosts: ENOTDIR") {
		t.Errorf("several sources to a file: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestFromMerge: copying into an existing tree merges directories,
// replaces files (and a file's other hard links keep their content),
// keeps what the image does not hold, and refuses to put a directory on a
// file or a file on a directory (reported, the rest copied).
func TestFromMerge(t *testing.T) {
	src := smallTree(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")

	out := t.TempDir()
	writeFile(t, filepath.Join(out, "etc/hostname"), "old contents, longer than the new\n")
	if err := os.Link(filepath.Join(out, "etc/hostname"), filepath.Join(out, "keep-link")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(out, "etc/local.conf"), "mine\n")
	writeFile(t, filepath.Join(out, "usr"), "a file where the image has a directory\n")
	if err := os.MkdirAll(filepath.Join(out, "bin/sub"), 0o755); err != nil { // a directory where the image has a symlink
		t.Fatal(err)
	}
	r := cpfromfs(t, "-i", img, "/", out)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"cpfromfs: /usr: cannot overwrite non-directory " + out + "/usr with a directory", "cpfromfs: /bin: cannot overwrite directory " + out + "/bin with a non-directory"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q: no %q", r.stderr, want)
		}
	}
	for p, want := range map[string]string{
		"etc/hostname":   "box\n",
		"etc/local.conf": "mine\n",
		"etc/hosts":      "127.0.0.1 localhost\n",
		"keep-link":      "old contents, longer than the new\n",
		"usr":            "a file where the image has a directory\n",
	} {
		if got := readFile(t, filepath.Join(out, p)); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	// A second copy over the first changes nothing and says nothing
	// but the same clashes.
	before := testutil.MustScanDir(t, out)
	r2 := cpfromfs(t, "-i", img, "/", out)
	if r2.code != 1 || r2.stderr != r.stderr {
		t.Errorf("second run: exit %d, stderr %q", r2.code, r2.stderr)
	}
	testutil.ExpectSame(t, "first vs second copy", before, testutil.MustScanDir(t, out), testutil.CompareOptions{Ignore: []string{"links"}})
}

// TestFromEscape: nothing an image holds makes cpfromfs write outside
// DST. The image holds a symlink "evil" to a host directory and a
// directory "evil" elsewhere, copied after it into the same place (a
// naive copy would write through the symlink); symlinks to "..", to "/"
// and up the tree, used as directories in the sources (resolved inside
// the image, never on the host); and the copy is run twice, so that it
// meets its own symlinks on the host.
func TestFromEscape(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "d/evil/pwned"), "escaped\n")
	writeFile(t, filepath.Join(src, "d/up/pwned"), "escaped\n")
	writeFile(t, filepath.Join(src, "x/pwned"), "escaped\n")
	for target, name := range map[string]string{
		outside:                      "evil",
		"..":                         "up",
		"/":                          "root",
		"../../../../../../../../..": "far",
		outside + "/new":             "evil-file",
	} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(src, "evil-file-src/evil-file"), "through a dangling symlink\n")
	img := filepath.Join(base, "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")

	dst := filepath.Join(base, "dst", "inner")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		r := cpfromfs(t, "-i", img, "/evil", "/up", "/far", "/evil-file", "/d/evil", "/d/up", "/root/x", "/up/up/far/x", "/evil-file-src/evil-file", dst)
		if r.code != 1 {
			t.Errorf("run %d: exit %d, stderr %q", run, r.code, r.stderr)
		}
		for _, want := range []string{"/d/evil: cannot overwrite non-directory", "/d/up: cannot overwrite non-directory"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("run %d: stderr %q: no %q", run, r.stderr, want)
			}
		}
		// The whole image too, into the same place.
		cpfromfs(t, "-i", img, "/", dst)
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 0 {
		t.Errorf("outside DST: %v %v", entries, err)
	}
	entries, err = os.ReadDir(filepath.Dir(dst))
	if err != nil || len(entries) != 1 {
		t.Errorf("beside DST: %v %v", entries, err)
	}
	// The sources resolved inside the image: /root/x and /up/up/far/x
	// are the image's /x.
	if got := readFile(t, filepath.Join(dst, "x/pwned")); got != "escaped\n" {
		t.Errorf("x/pwned: %q", got)
	}
	if target, err := os.Readlink(filepath.Join(dst, "evil")); err != nil || target != outside {
		t.Errorf("evil: %q %v: want the symlink as it is", target, err)
	}
}

// TestFromDryRun: --dry-run lists what would be copied and creates
// nothing.
func TestFromDryRun(t *testing.T) {
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, smallTree(t), "8M")
	out := t.TempDir()
	r := cpfromfs(t, "--dry-run", "-i", img, "/etc", out)
	mustRun(t, r, "--dry-run")
	want := []string{"/etc -> " + out + "/etc", "/etc/hostname -> " + out + "/etc/hostname",
		"/etc/hosts -> " + out + "/etc/hosts", "/etc/passwd -> " + out + "/etc/passwd"}
	if got := lines(r.stdout); !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("--dry-run created %v", entries)
	}
}

// TestFromOwners: as root, owners are kept; --owner/--group override.
func TestFromOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "not root: cannot give files other owners")
	}
	src := smallTree(t)
	if err := os.Lchown(filepath.Join(src, "etc/hosts"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")
	out := t.TempDir()
	mustRun(t, cpfromfs(t, "-i", img, "/etc", out), "cpfromfs")
	if e := testutil.MustScanDir(t, out)["etc/hosts"]; e.Uid != 1234 || e.Gid != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", e.Uid, e.Gid)
	}
	out = t.TempDir()
	mustRun(t, cpfromfs(t, "-o", "7", "-g", "8", "-i", img, "/etc", out), "cpfromfs -o -g")
	for _, e := range testutil.MustScanDir(t, out) {
		if e.Path != "." && (e.Uid != 7 || e.Gid != 8) {
			t.Errorf("%s: owner %d:%d, want 7:8", e.Path, e.Uid, e.Gid)
		}
	}
}

// TestProgress: with stderr on a terminal (script(1) gives it one), the
// bar is drawn there and erased at the end, -v lines land above it;
// --no-progress turns it off. Every other test checks that nothing
// reaches a stderr that is not a terminal.
func TestProgress(t *testing.T) {
	script := testutil.Need(t, "script")[0]
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, smallTree(t), "8M")
	term := func(args ...string) string {
		return testutil.OnTerminal(t, script, cpfromfsBin, args...)
	}
	screen := term("-i", img, "/etc", t.TempDir())
	if !strings.Contains(screen, "\r0 B") || !strings.Contains(screen, " entries") || !strings.HasSuffix(screen, "\r\x1b[K") {
		t.Errorf("no bar drawn and erased: %q", screen)
	}
	out := t.TempDir()
	screen = term("-v", "-i", img, "/etc", out)
	if !strings.Contains(screen, "\r\x1b[K/etc/hosts -> "+out+"/etc/hosts\r\n") {
		t.Errorf("-v under the bar: %q", screen)
	}
	if screen := term("--no-progress", "-i", img, "/etc", t.TempDir()); screen != "" {
		t.Errorf("--no-progress: %q", screen)
	}

	// cptofs knows its total: the sources' data.
	t.Run("cptofs", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "fs.img")
		testutil.MkfsExt4(t, dst, "", "8M")
		screen := testutil.OnTerminal(t, script, cptofsBin, "-i", dst, smallTree(t), "/")
		if !strings.Contains(screen, " B / ") || !strings.Contains(screen, "%") || !strings.HasSuffix(screen, "\r\x1b[K") {
			t.Errorf("no bar with a total: %q", screen)
		}
	})
}

// TestFromAsUser: run by a user (nobody), cpfromfs makes the files the
// user's own and chowns nothing; the attributes a user may not set
// (trusted.*) are left without a word, a device node it may not make is
// reported; with --preserve it tries the owners and says it could not.
func TestFromAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "not root: cannot run as another user")
	}
	src := smallTree(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(unix.Lsetxattr(filepath.Join(src, "etc/hosts"), "trusted.x", []byte("t"), 0))
	must(unix.Lsetxattr(filepath.Join(src, "etc/hosts"), "user.x", []byte("u"), 0))
	must(unix.Mknod(filepath.Join(src, "etc/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(os.Lchown(filepath.Join(src, "etc/passwd"), 1234, 1234))
	base, err := os.MkdirTemp("", "cpfromfs-user")
	must(err)
	t.Cleanup(func() { os.RemoveAll(base) })
	must(os.Chmod(base, 0o777))
	img := filepath.Join(base, "fs.img")
	testutil.MkfsExt4(t, img, src, "8M")
	must(os.Chmod(img, 0o644))
	asNobody := func(args ...string) result {
		cmd := exec.Command(cpfromfsBin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return runCmd(t, cmd)
	}
	out := filepath.Join(base, "out")
	r := asNobody("-i", img, "/etc", out)
	if r.code != 1 || strings.TrimSpace(r.stderr) != "cpfromfs: /etc/null: mknod "+out+"/null: EPERM\ncpfromfs: some entries could not be copied: 1 failed" {
		t.Errorf("as nobody: exit %d, stderr %q", r.code, r.stderr)
	}
	tree := testutil.MustScanDir(t, out)
	for _, e := range tree {
		if e.Uid != 65534 || e.Gid != 65534 {
			t.Errorf("%s: owner %d:%d, want nobody's", e.Path, e.Uid, e.Gid)
		}
	}
	if x := tree["hosts"].Xattrs; string(x["user.x"]) != "u" || x["trusted.x"] != nil {
		t.Errorf("hosts: xattrs %q", x)
	}
	r = asNobody("--preserve", "-i", img, "/etc/passwd", filepath.Join(base, "passwd"))
	if r.code != 1 || !strings.Contains(r.stderr, "cpfromfs: /etc/passwd: chown: EPERM") {
		t.Errorf("--preserve as nobody: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestFromCraftedNames: an image whose directory holds names no kernel
// would make ("../escape", "a/b": bytes patched into a directory block
// of an image without checksums) gets them refused: the kernel's
// getdents64 ends the listing with EIO at such a name, as Linux's
// verify_dirent_name does, for the walk and for a pattern alike (the
// walk's own check of plain names stays behind it); nothing is written
// outside DST.
func TestFromCraftedNames(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "d/..Xescape"), "escaped\n")
	writeFile(t, filepath.Join(src, "d/aXb"), "escaped\n")
	writeFile(t, filepath.Join(src, "d/fine"), "fine\n")
	img := filepath.Join(base, "fs.img")
	testutil.MkfsExt4(t, img, src, "8M", "-O", "^metadata_csum")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for old, repl := range map[string]string{"..Xescape": "../escape", "aXb": "a/b"} {
		if bytes.Count(b, []byte(old)) != 1 {
			t.Fatalf("%q appears %d times in the image", old, bytes.Count(b, []byte(old)))
		}
		b = bytes.Replace(b, []byte(old), []byte(repl), 1)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "dst", "inner")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	r := cpfromfs(t, "-i", img, "/d", dst)
	if r.code != 1 || !strings.Contains(r.stderr, "/d: readdir: EIO") || !strings.Contains(r.stderr, "bad entry name") {
		t.Errorf("walk: exit %d, stderr %q", r.code, r.stderr)
	}
	r = cpfromfs(t, "-i", img, "/d/*", dst)
	if r.code != 1 || !strings.Contains(r.stderr, "EIO") || !strings.Contains(r.stderr, "bad entry name") {
		t.Errorf("pattern: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, p := range []string{filepath.Join(base, "dst", "escape"), filepath.Join(dst, "escape"), filepath.Join(dst, "a")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made", p)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(base, "dst"))
	if len(entries) != 1 {
		t.Errorf("beside DST: %v", entries)
	}
}

// TestFromNoSpace: a host filesystem that fills up stops the copy, said
// so; nothing is left mounted.
func TestFromNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "not root: cannot mount a small tmpfs")
	}
	src := t.TempDir()
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>10)
	}
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(src, n), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "16M")
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt)
	defer testutil.Run(t, "umount", mnt)
	r := cpfromfs(t, "-i", img, "/a", "/b", mnt)
	if r.code != 1 || r.stderr != "cpfromfs: no space left on device on the host while copying /b\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
