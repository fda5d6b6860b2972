//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// writeBase makes the image every write case starts from: files, a
// directory with contents, an empty one, symlinks, an xattr to remove,
// and an /etc/passwd and /etc/group naming "daemon" as the host does (so
// GNU chown, which reads the host's names, and lklimg chown, which reads
// the image's, agree).
func writeBase(t *testing.T, mke2fs, dir, size string, mkfsArgs ...string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"d/sub", "d2/y", "empty", "etc", "full/x/y"} {
		must(os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	for _, f := range []string{"f1", "f2", "f3", "f4", "f5", "d/g", "d/sub/h", "full/x/y/z", "d2/y/keep", "y"} {
		must(os.WriteFile(filepath.Join(src, f), []byte("data of "+f+"\n"), 0o644))
	}
	// Enough names for an htree directory, for rm -r and mv into it.
	must(os.Mkdir(filepath.Join(src, "many"), 0o755))
	for i := range 600 {
		must(os.WriteFile(filepath.Join(src, "many", fmt.Sprintf("a-fairly-long-file-name-%04d", i)), []byte{byte(i)}, 0o644))
	}
	must(os.WriteFile(filepath.Join(src, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "etc/group"), []byte("root:x:0:\ndaemon:x:1:\n"), 0o644))
	must(os.Symlink("f1", filepath.Join(src, "link")))
	must(os.Symlink("d", filepath.Join(src, "dlink")))
	must(os.Symlink("d/made", filepath.Join(src, "dangling")))
	must(unix.Lsetxattr(filepath.Join(src, "f4"), "user.old", []byte("old"), 0))
	return writeBaseImage(t, mke2fs, src, filepath.Join(dir, "base.img"), size, mkfsArgs...)
}

// writeBaseImage makes img, of size bytes (as truncate -s wants it), from
// writeBase's tree src: a twin of a base image, with other mkfs arguments.
func writeBaseImage(t *testing.T, mke2fs, src, img, size string, mkfsArgs ...string) string {
	t.Helper()
	testutil.Run(t, "truncate", "-s", size, img)
	testutil.Run(t, mke2fs, append(append([]string{"-q", "-F", "-E", "root_owner=0:0", "-I", "256"}, mkfsArgs...), "-d", src, img)...)
	return img
}

// TestWriteAgainstGNU runs each write subcommand's steps with the GNU tool
// on a loop-mounted copy of an image and with lklimg on another copy, and
// requires the same stdout, stderr (the tool's name aside) and exit
// statuses, two images e2fsck finds clean, and the same trees (modes,
// owners, contents, links, xattrs; mtimes only where the steps set them
// all).
func TestWriteAgainstGNU(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs", "setfattr", "mkdir", "rm", "rmdir", "mv", "ln", "chmod", "chown", "touch")
	tmp := t.TempDir()
	base := writeBase(t, tools[0], tmp, "8M")
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range writeCases {
		t.Run(c.name, func(t *testing.T) { runWriteCase(t, tools, tmp, writeBases{gnu: base, ours: base}, mnt, c) })
	}
}

// TestWriteFeatureMatrix is lklimg's part of the feature matrix: the
// first steps of each write case of TestWriteAgainstGNU on an image with
// each feature of testutil.Ext4Features (prepared as the feature wants:
// an encrypted directory, a casefolded root, many and d). Where the host
// kernel cannot mount the feature's image read-write, GNU's tools edit a
// twin made without the feature, and lklimg's image is seen through a
// read-only loop mount, or, where the host cannot mount it at all,
// through fs2tar. LKLIMG_MATRIX_FULL=1 runs every step.
func TestWriteFeatureMatrix(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs", "setfattr", "mkdir", "rm", "rmdir", "mv", "ln", "chmod", "chown", "touch")
	for _, f := range testutil.Ext4Features() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel() // each with its images and mount point
			tmp := t.TempDir()
			b := writeBases{ours: writeBase(t, tools[0], tmp, f.Size(8), f.Opts...)}
			f.Prepare(t, b.ours, "/many", "/d")
			b.gnu = b.ours
			if f.Encrypted {
				b.gnuView, b.ourView = testutil.LoopViewUnlocked, testutil.LoopViewUnlocked
			}
			if !f.LogHostView(t, true, "GNU's tools edit a twin without the feature") {
				b.gnu = writeBaseImage(t, tools[0], filepath.Join(tmp, "src"), filepath.Join(tmp, "twin.img"), "8M")
				if !f.LogHostView(t, false, "lklimg's image seen through fs2tar") {
					b.ourView = fs2tarView
				}
			}
			mnt := filepath.Join(tmp, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			var cases []writeCase
			for _, c := range writeCases {
				// touch's last step sets the times the others change.
				if !c.mtime && os.Getenv("LKLIMG_MATRIX_FULL") == "" {
					c.steps = c.steps[:min(len(c.steps), 3)]
				}
				cases = append(cases, c)
			}
			if c, ok := featureCases[f.Name]; ok {
				cases = append(cases, c)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { runWriteCase(t, tools, tmp, b, mnt, c) })
			}
		})
	}
}

// TestWriteAgainstGNUInline runs the namespace and xattr cases of
// TestWriteAgainstGNU on an inline_data image, whose small files and
// directories mkfs.ext4 -d made inline.
func TestWriteAgainstGNUInline(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs", "setfattr", "mkdir", "rm", "rmdir", "mv", "ln", "chmod", "chown", "touch")
	tmp := t.TempDir()
	base := writeBase(t, tools[0], tmp, "8M", "-O", "inline_data")
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range writeCases {
		if slices.Contains([]string{"mkdir", "rm", "rmdir", "mv", "ln", "setfattr"}, c.name) {
			t.Run(c.name, func(t *testing.T) { runWriteCase(t, tools, tmp, writeBases{gnu: base, ours: base}, mnt, c) })
		}
	}
}

// featureCases are the write cases TestWriteFeatureMatrix runs whole on
// one feature's image, besides writeCases' first steps:
//   - encrypt: edits, without its key, of the encrypted directory
//     /secret: what Linux refuses there (a new name: ENOKEY; a move in:
//     EXDEV) and what it allows (on the directory itself);
//   - ea_inode: xattr values too big for an xattr block of 1 KiB, held
//     by an ea_inode, shared between files with the same value, and
//     freed with the last file or attribute holding them.
var featureCases = map[string]writeCase{
	"encrypt": {name: "encrypted", steps: [][]string{
		{"mkdir", "secret/new"}, {"touch", "secret/new2"}, {"ln", "-s", "x", "secret/l"}, {"ln", "f1", "secret/h"},
		{"mv", "f1", "secret/f1"}, {"mv", "f2", "secret"}, {"rm", "secret/plans.txt"}, {"rm", "-r", "secret/sub"},
		{"rmdir", "secret"}, {"setfattr", "-n", "user.x", "-v", "1", "secret"}, {"touch", "-d", "@1500000000", "secret"},
		{"mv", "secret", "moved"}, {"ln", "-s", "moved/x", "f3"}, {"rm", "-rf", "moved"},
	}},
	"ea_inode": {name: "ea_inode", steps: [][]string{
		{"setfattr", "-n", "user.big", "-v", bigValue('a'), "f1"}, {"setfattr", "-n", "user.big", "-v", bigValue('a'), "f2"},
		{"setfattr", "-n", "user.other", "-v", bigValue('b'), "f2"}, {"setfattr", "-x", "user.big", "f1"},
		{"rm", "f2"}, {"setfattr", "-n", "user.big", "-v", bigValue('c'), "d"}, {"ln", "f3", "d/f3"},
		{"setfattr", "-n", "user.big", "-v", bigValue('d'), "f3"}, {"rm", "f3"}, {"setfattr", "-n", "user.big", "-v", "small", "d"},
		{"mv", "d/f3", "f9"}, {"rm", "-r", "d"},
	}},
}

// bigValue is a setfattr value of 3000 bytes of c, in hex.
func bigValue(c byte) string {
	return "0x" + strings.Repeat(fmt.Sprintf("%02x", c), 3000)
}

// writeCase is one write subcommand's steps for TestWriteAgainstGNU.
type writeCase struct {
	name string
	// steps are GNU's command lines, run in the mount point: no
	// absolute path operands, which would reach the host's files.
	// lklimg's insert IMAGE after the flags (and MODE/OWNER).
	steps  [][]string
	before int  // arguments after the flags that come before IMAGE
	mtime  bool // compare mtimes too
}

var writeCases = []writeCase{
	{name: "mkdir", steps: [][]string{
		{"mkdir", "a/x/y"}, {"mkdir", "-p", "a/x/y", "d/sub/n", "f1/q"}, {"mkdir", "-m", "0750", "m1"},
		{"mkdir", "-m", "u=rwx,g=rx", "m2"}, {"mkdir", "d", "new", "f1/q"}, {"mkdir", "-m", "2711", "m3"}, {"mkdir", "-m", "0x7", "m4"},
		{"mkdir", "trail/"}, {"mkdir", "-p", "p//q/./r/", "y/z"}, {"mkdir", "-p", "f1", "link/x", "dlink/n"}, {"mkdir", ".", "dlink"}, {"mkdir", "q1/q2", "-pm", "0700"}, {"mkdir", "q3", "--mode=0711", "--", "-p"},
	}},
	{name: "rm", steps: [][]string{
		{"rm", "f1", "nope", "d", "link"}, {"rm", "-f", "nope", "f2"}, {"rm", "-r", "d", "dlink"},
		{"rm", "-rf", "full/.", "full/x/y", "empty"}, {"rm", "-r", "nope2"}, {"rm", "f3/", "d2/y/"}, {"rm", "-r", "d2/y/", "f4", "f5/"}, {"rm", "-r", "many"}, {"rm", "-r", "dlink/"}, {"rm", "etc/.."}, {"rm", "d2", "-r", "nope3", "-f"},
	}},
	{name: "rmdir", steps: [][]string{{"rmdir", "empty", "d", "nope", "f1"}, {"rmdir", "d/sub/", "f2/", "d2/y/"}, {"rmdir", ".", "d/..", "dlink", "dlink/"}}},
	{name: "mv", steps: [][]string{
		{"mv", "f1", "f9"}, {"mv", "f9", "f9"}, {"mv", "f9", "./f9"}, {"mv", "d", "d"}, {"mv", "f2", "link", "d"}, {"mv", "nope", "x"}, {"mv", "f3", "f4", "f5"},
		{"mv", "d", "d/sub"}, {"mv", "d", "d2"}, {"mv", "empty", "d2/d/sub"}, {"mv", "f9", "d2/d/"},
		{"mv", "full/x/y", "d2"}, {"mv", "full/x", "f5"}, {"mv", "f5", "d2/y"}, {"mv", "etc/passwd", "full"}, {"mv", "y", "d2"}, {"mv", "y", "etc", "missing"}, {"mv", "etc", "many"}, {"mv", "many/a-fairly-long-file-name-0007", "many/a-fairly-long-file-name-0008"},
	}},
	{name: "ln", steps: [][]string{
		{"ln", "f1", "h1"}, {"ln", "-s", "f1", "s1"}, {"ln", "-s", "other", "s1"}, {"ln", "-sf", "f2", "s1"},
		{"ln", "f2", "d"}, {"ln", "nope", "x"}, {"ln", "f1", "f3"}, {"ln", "-f", "f1", "f4"}, {"ln", "-s", "/abs/t", "empty"},
		{"ln", "-s", "f1", "d"}, {"ln", "-f", "f5", "d2"}, {"ln", "-sf", "x", "d2"}, {"ln", "d", "dd"}, {"ln", "f1", "f1"}, {"ln", "-f", "f1", "h1"}, {"ln", "-sf", "f2", "f2"}, {"ln", "-f", "f1", "./f1"}, {"ln", "-sf", "../f3", "d/f3"}, {"ln", "-sf", "f3", "hf3"}, {"ln", "-s", "x", "."}, {"ln", "-s", "f1", "dlink"},
	}},
	{name: "chmod", before: 1, steps: [][]string{
		{"chmod", "0640", "f1"}, {"chmod", "u+x,go-w", "f2"}, {"chmod", "a=r,u+w", "d"}, {"chmod", "4755", "f3"},
		{"chmod", "g+s", "d2"}, {"chmod", "o=", "f4", "link"}, {"chmod", "644", "nope"}, {"chmod", "u=g", "f5"},
		{"chmod", "+t,a+X", "empty"}, {"chmod", "755", "d2"}, {"chmod", "u+z", "f1"}, {"chmod", "600", "dlink", ".", "dangling"},
		{"chmod", "-w", "f1", "f2"}, {"chmod", "666", "f5"}, {"chmod", "-w", "f5"}, {"chmod", "+x,g+s", "f5", "d2"}, {"chmod", "-x,o+t", "f3", "d"},
	}},
	{name: "chown", before: 1, steps: [][]string{
		{"chown", "123:456", "f1"}, {"chown", "daemon", "f2"}, {"chown", ":daemon", "f3", "d"},
		{"chown", "7", "link", "dangling"}, {"chown", "1", "nope"}, {"chown", "daemon:0", "empty"},
		{"chown", "nosuch", "f1"}, {"chown", ":nosuch", "f1"}, {"chown", "daemon:daemon", "f5", "nope", "f4"},
		{"chown", "0:0", "y", "f2"}, {"chown", "daemon:", "y"}, {"chown", "1:", "f2"},
	}},
	{name: "touch", mtime: true, steps: [][]string{
		{"touch", "-d", "2020-01-02 03:04:05", "f1", "new"}, {"touch", "-d", "@1600000000", "f2"},
		{"touch", "-d", "2021-06-07T08:09:10Z", "f3", "nodir/x"}, {"touch", "-d", "@1400000000.25", "f4", "link"}, {"touch", "-d", "xyz", "f5"}, {"touch", "-d", "@1300000000", "dangling"}, {"touch", "-d", "2019-05-06", "f5", "y"},
		{"touch", "-c", "nope-c", "f1", "-d", "@1100000000"}, {"touch", "-m", "-d", "@1234567890", "f2"}, {"touch", "-a", "-d", "@1234567890", "f3"},
		{"touch", "-r", "f2", "f4", "new-r"}, {"touch", "-h", "-d", "@1000000000", "link", "dangling"}, {"touch", "-r", "nope", "f4"}, {"touch", "-h", "missing-h"},
		{"touch", "-hr", "link", "f4"}, {"touch", "-am", "-d", "@1200000000", "f5"}, {"touch", "-c", "-h", "nope-ch"},
		{"touch", "-d", "@1500000000", "etc", "d", "d/sub", "d2", "empty", "full", "full/x", "full/x/y", "."},
	}},
	{name: "setfattr", steps: [][]string{
		{"setfattr", "-n", "user.a", "-v", "hello", "f1"}, {"setfattr", "-n", "user.b", "-v", "0x414243", "f1"},
		{"setfattr", "-n", "user.c", "-v", "0sQUJD", "f2", "d"}, {"setfattr", "-n", "user.d", "-v", `"q\012x"`, "f2"},
		{"setfattr", "-n", "user.e", "f3"}, {"setfattr", "-x", "user.old", "f4"}, {"setfattr", "-x", "user.none", "f1"},
		{"setfattr", "-n", "user.a", "-v", "x", "nope"}, {"setfattr", "-n", "user.l", "-v", "via", "link"}, {"setfattr", "-n", "user.l", "-v", "via", "dangling"},
		{"setfattr", "-n", "user.bad", "-v", "0x4", "f1"}, {"setfattr", "-n", "bogus", "-v", "1", "f1"},
		{"setfattr", "-n", "user.q", "-v", `"abc`, "f5"}, {"setfattr", "-n", "user.r", "-v", `"a\"b\\c\101"`, "f5"},
	}},
}

// fs2tarBin is fs2tar, built on first use beside lklimgBin.
var fs2tarBin = sync.OnceValues(func() (string, error) { return testutil.BuildInto(binDir, "../fs2tar", "fs2tar") })

// fs2tarView is our kernel's view of img, through fs2tar: the oracle of
// the images the host kernel cannot mount.
func fs2tarView(t testing.TB, img string) testutil.Tree {
	t.Helper()
	bin, err := fs2tarBin()
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.RunCommand(t, exec.Command(bin, img, "-"))
	if r.Code != 0 || len(r.Stderr) != 0 {
		t.Fatalf("fs2tar %s: exit %d, stderr:\n%s", img, r.Code, r.Stderr)
	}
	tree, err := testutil.ScanTar(bytes.NewReader(r.Stdout))
	if err != nil {
		t.Fatalf("fs2tar %s: %v", img, err)
	}
	return tree
}

// kernelReason is what lklimg adds to a message after the errno's text:
// the reason our kernel gave, "(ext4: inode 12: encrypted directory)".
var kernelReason = regexp.MustCompile(`(?m) \(ext4: [^\n]*\)$`)

// writeBases are the images a write case starts from: GNU's tools edit a
// copy of gnu, lklimg one of ours (the same image, or a twin with a
// feature the host kernel cannot write). The trees compared are
// gnuView's and ourView's (LoopView when nil).
type writeBases struct {
	gnu, ours        string
	gnuView, ourView func(testing.TB, string) testutil.Tree
}

// runWriteCase runs c's steps with GNU's tools on a loop-mounted copy of
// b.gnu and with lklimg on a copy of b.ours (see TestWriteAgainstGNU);
// tools are mkfs.ext4, e2fsck and dumpe2fs.
func runWriteCase(t *testing.T, tools []string, tmp string, b writeBases, mnt string, c writeCase) {
	t.Helper()
	e2fsck, dumpe2fs := tools[1], tools[2]
	gnuImg, ourImg := filepath.Join(tmp, c.name+"-gnu.img"), filepath.Join(tmp, c.name+"-ours.img")
	testutil.Run(t, "cp", "--sparse=always", b.gnu, gnuImg)
	testutil.Run(t, "cp", "--sparse=always", b.ours, ourImg)

	var want, got []result
	testutil.Run(t, "mount", "-o", "loop", gnuImg, mnt)
	for _, step := range c.steps {
		cmd := exec.Command("sh", "-c", `umask 022; exec "$@"`, "sh")
		cmd.Args = append(cmd.Args, step...)
		cmd.Dir = mnt
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		r := runCmd(t, cmd)
		r.stderr = strings.ReplaceAll(r.stderr, step[0]+": ", "lklimg: ")
		r.stderr = strings.ReplaceAll(r.stderr, "Try '"+step[0], "Try 'lklimg "+step[0])
		want = append(want, r)
	}
	testutil.Run(t, "umount", mnt)
	for _, step := range c.steps {
		args := slices.Clone(step)
		// IMAGE goes after the options: those of valued[command] take the
		// next argument.
		valued := map[string]string{"mkdir": "m", "touch": "dr", "setfattr": "nvx"}[step[0]]
		i := 1
		for i < len(args) && strings.HasPrefix(args[i], "-") && step[0] != "chmod" {
			i++
			if o := args[i-1]; strings.ContainsRune(valued, rune(o[len(o)-1])) {
				i++
			}
		}
		args = slices.Insert(args, i+c.before, ourImg)
		r := runCmd(t, exec.Command(lklimgBin, args...))
		// The kernel's reason after an errno's message (strerror) is
		// lklimg's own.
		r.stderr = kernelReason.ReplaceAllString(r.stderr, "")
		got = append(got, r)
	}
	for i := range c.steps {
		if got[i] != want[i] {
			t.Errorf("%q: lklimg: exit %d, stdout %q, stderr:\n%s\nGNU: exit %d, stdout %q, stderr:\n%s",
				c.steps[i], got[i].code, got[i].stdout, got[i].stderr, want[i].code, want[i].stdout, want[i].stderr)
		}
	}
	for _, img := range []string{gnuImg, ourImg} {
		if out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn %s: %v\n%s", filepath.Base(img), err, out)
		}
	}
	// Unmounted cleanly: no journal left to replay.
	sb := string(testutil.Run(t, dumpe2fs, "-h", ourImg))
	if !regexp.MustCompile(`(?m)^Filesystem state: +clean$`).MatchString(sb) || strings.Contains(sb, "needs_recovery") {
		t.Errorf("lklimg left the image unclean:\n%s", sb)
	}
	gnuView, ourView := b.gnuView, b.ourView
	if gnuView == nil {
		gnuView = testutil.LoopView
	}
	if ourView == nil {
		ourView = testutil.LoopView
	}
	opts := testutil.CompareOptions{}
	if !c.mtime {
		opts.Ignore = []string{"mtime"}
	}
	if b.gnu != b.ours {
		opts.SkipPaths = []string{"lost+found"} // made by each mke2fs at its time
	}
	for _, d := range testutil.Compare(ourView(t, ourImg), gnuView(t, gnuImg), opts) {
		t.Errorf("lklimg vs GNU: %s", d)
	}
	os.Remove(gnuImg)
	os.Remove(ourImg)
}

// TestWriteOwnNames checks what GNU cannot be run on: chown by names only
// the image's /etc/passwd and /etc/group hold, and rm's refusal of the
// image's root, whose GNU messages are written out here (coreutils 9's
// rm -r / and rm /).
func TestWriteOwnNames(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	for _, d := range []string{"etc", "d"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "# comment\nimguser:x:4321:4321::/home:/bin/sh\nroot:x:0:0::/root:/bin/sh\n",
		"etc/group":  "imggroup:x:876:\n",
		"f":          "data\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(tmp, "img")
	testutil.Run(t, "truncate", "-s", "8M", img)
	testutil.Run(t, tools[0], "-q", "-F", "-E", "root_owner=0:0", "-d", src, img)

	for _, c := range []struct {
		args []string
		want result
	}{
		{[]string{"chown", "imguser:imggroup", img, "f"}, result{"", "", 0}},
		{[]string{"chown", "4321:imguser", img, "d"}, result{"", "lklimg: invalid group: '4321:imguser'\n", 1}},
		{[]string{"touch", img, "new", "d/new2"}, result{"", "", 0}},
		{[]string{"rm", "-r", img, "/"}, result{"", "lklimg: it is dangerous to operate recursively on '/'\nlklimg: use --no-preserve-root to override this failsafe\n", 1}},
		{[]string{"rm", "-rf", img, "//"}, result{"", "lklimg: it is dangerous to operate recursively on '//'\nlklimg: use --no-preserve-root to override this failsafe\n", 1}},
		{[]string{"rmdir", img, "/", "//"}, result{"", "lklimg: failed to remove '/': Device or resource busy\nlklimg: failed to remove '//': Device or resource busy\n", 1}},
		{[]string{"rm", img, "/"}, result{"", "lklimg: cannot remove '/': Is a directory\n", 1}},
		{[]string{"rm", "-r", img, "d/..", "."}, result{"", "lklimg: refusing to remove '.' or '..' directory: skipping 'd/..'\nlklimg: refusing to remove '.' or '..' directory: skipping '.'\n", 1}},
	} {
		if got := runCmd(t, exec.Command(lklimgBin, c.args...)); got != c.want {
			t.Errorf("lklimg %q: %+v, want %+v", c.args, got, c.want)
		}
	}
	testutil.E2fsckClean(t, img)
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	defer testutil.Run(t, "umount", mnt)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 4321 || st.Gid != 876 {
		t.Errorf("f: owner %d:%d, want 4321:876", st.Uid, st.Gid)
	}
	for _, p := range []string{"new", "d/new2"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(mnt, p), &st); err != nil {
			t.Fatal(err)
		}
		if age := time.Since(time.Unix(st.Mtim.Unix())); st.Mode != unix.S_IFREG|0o644 || st.Size != 0 || age < 0 || age > time.Minute {
			t.Errorf("touch %s: mode %#o, size %d, mtime %v ago; want an empty 0644 file just made", p, st.Mode, st.Size, age)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "etc/passwd")); err != nil {
		t.Errorf("rm removed what it refused to: %v", err)
	}
}
