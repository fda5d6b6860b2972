//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// lklimgBin is the command built for the tests, as `make` builds it
// (CGO_ENABLED=0), so that exit statuses and streams are the real ones.
var lklimgBin string

// binDir holds lklimgBin, and other commands tests build (fs2tarBin).
var binDir string

func TestMain(m *testing.M) {
	var err error
	if lklimgBin, binDir, err = testutil.BuildCommand("lklimg"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	testutil.RemoveWine()
	os.Exit(code)
}

// The exit statuses the command documents.
const (
	exitOK    = 0
	exitFail  = 1 // some PATH failed
	exitImage = 2 // the image cannot be used, or a usage error
)

// result is one run of a command.
type result struct {
	stdout, stderr string
	code           int
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testutil.RunCommand(t, cmd)
	return result{string(r.Stdout), string(r.Stderr), r.Code}
}

// makeTree fills dir with one of each kind of file, names whose C-locale
// order differs from a dictionary's, a hard link, symlinks (relative,
// absolute and dangling), a device node, a FIFO, setuid/setgid/sticky
// modes and extended attributes of each encoding getfattr chooses.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"d/sub/deep", "empty", "sticky"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	files := map[string]string{
		"a": "hello\n", "B": "upper\n", "_x": "", "\u00e9": "e acute\n", ".hidden": "h",
		"bin": "x\x00y", "d/e": "", "d/sub/deep/f": strings.Repeat("0123456789", 5000),
	}
	for name, data := range files {
		must(os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	// unix.Chmod: os.Chmod's FileMode has its own setuid, setgid and
	// sticky bits.
	must(unix.Chmod(filepath.Join(dir, "d/e"), 0o4755))
	must(unix.Chmod(filepath.Join(dir, "_x"), 0o2640))
	must(unix.Chmod(filepath.Join(dir, "sticky"), 0o1777))
	must(unix.Chmod(filepath.Join(dir, "empty"), 0o3751))
	must(os.Chown(filepath.Join(dir, "B"), 1234, 56789))
	// Enough names that a listing takes several getdents64 calls and
	// the directory is an htree.
	must(os.Mkdir(filepath.Join(dir, "many"), 0o755))
	for i := range 1500 {
		must(os.WriteFile(filepath.Join(dir, "many", fmt.Sprintf("entry-with-a-longish-name-%05d", i*7919%10007)), nil, 0o644))
	}
	must(os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "hard")))
	must(os.Symlink("a", filepath.Join(dir, "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "abs")))
	must(os.Symlink("d/sub", filepath.Join(dir, "dirlink")))
	must(unix.Mknod(filepath.Join(dir, "d/cdev"), unix.S_IFCHR|0o620, int(unix.Mkdev(4, 64))))
	must(unix.Mknod(filepath.Join(dir, "d/bdev"), unix.S_IFBLK|0o660, int(unix.Mkdev(259, 1234))))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	for _, x := range []struct{ path, name, value string }{
		{"a", "user.text", "some text"},
		{"a", "user.binary", "\x00\x01\x02\x03\x04"},
		{"a", "user.empty", ""},
		{"a", "user.escapes", "q\"b\\n\nend\x00"},
		{"d", "user.dir", "on a directory"},
		{"d", "trusted.t", "trusted"},
	} {
		must(unix.Lsetxattr(filepath.Join(dir, x.path), x.name, []byte(x.value), 0))
	}
}

// TestAgainstGNU runs each subcommand on an image and the GNU tool on the
// same image loop-mounted read-only, in the C locale and UTC, and
// requires the same stdout, stderr (the tool's name aside) and exit
// status. Where the outputs cannot agree (the device numbers, df's
// source and mount point, the ".." of the image's root, which a mount
// takes from the host), both outputs pass through the case's fix, which
// rewrites that and only that.
func TestAgainstGNU(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "getfattr", "stat", "ls", "df", "cat")
	mke2fs := tools[0]
	tmp := t.TempDir()
	src, mnt, img := filepath.Join(tmp, "src"), filepath.Join(tmp, "mnt"), filepath.Join(tmp, "img")
	makeTree(t, src)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "truncate", "-s", "16M", img)
	testutil.Run(t, mke2fs, "-q", "-F", "-E", "root_owner=0:0", "-I", "256", "-d", src, img)
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	devLine := regexp.MustCompile(`Device: [0-9]+,[0-9]+\t`)
	sameDevice := func(s string) string { return devLine.ReplaceAllString(s, "Device: DEV\t") }
	for _, c := range []struct {
		name string
		ours []string // after "lklimg"; IMAGE stands for the image
		gnu  []string // run in the mount point
		fix  func(string) string
	}{
		{"ls", []string{"ls", "IMAGE"}, []string{"ls"}, nil},
		{"ls paths", []string{"ls", "IMAGE", "link", "d", "a", "nope", "empty", "dirlink", "a/", "d/", "abs", "\u00e9"}, []string{"ls", "link", "d", "a", "nope", "empty", "dirlink", "a/", "d/", "abs", "\u00e9"}, nil},
		{"ls -l many", []string{"ls", "-l", "IMAGE", "many"}, []string{"ls", "-l", "--time-style=long-iso", "-n", "many"}, nil},
		{"ls -a", []string{"ls", "-a", "IMAGE", "d"}, []string{"ls", "-a", "d"}, nil},
		{"ls -R", []string{"ls", "-R", "IMAGE"}, []string{"ls", "-R"}, nil},
		{"ls -l", []string{"ls", "-l", "IMAGE"}, []string{"ls", "-l", "--time-style=long-iso", "-n"}, nil},
		{"ls -l dirs", []string{"ls", "-l", "IMAGE", "d", "sticky/", "d/cdev", "dirlink", "nope", "link"}, []string{"ls", "-l", "--time-style=long-iso", "-n", "d", "sticky/", "d/cdev", "dirlink", "nope", "link"}, nil},
		// The root's ".." is the host's directory on a mount, the root
		// itself in the image: its line and the total it counts in are
		// left out of both.
		{"ls -la /", []string{"ls", "-la", "IMAGE", "/"}, []string{"ls", "-la", "--time-style=long-iso", "-n", "."}, func(s string) string {
			return regexp.MustCompile(`(?m)^total [0-9]+\n|^d.* \.\.\n`).ReplaceAllString(s, "")
		}},
		{"ls -laR", []string{"ls", "-laR", "IMAGE", "d"}, []string{"ls", "-laR", "--time-style=long-iso", "-n", "d"}, nil},
		{"ls -lR", []string{"ls", "-lR", "IMAGE"}, []string{"ls", "-lR", "--time-style=long-iso", "-n"}, nil},
		{"cat", []string{"cat", "IMAGE", "a", "bin", "nope", "d", "link", "d/sub/deep/f", "a/", "a/x", "abs", "/../a"}, []string{"cat", "a", "bin", "nope", "d", "link", "d/sub/deep/f", "a/", "a/x", "abs", "a"}, nil},
		{"stat", []string{"stat", "IMAGE", "a", "B", "_x", "d", "d/cdev", "d/bdev", "fifo", "link", "abs", "sticky", "nope", "d/e", "d/sub/deep/f", ".", "dirlink/", "many", "a/"}, []string{"stat", "a", "B", "_x", "d", "d/cdev", "d/bdev", "fifo", "link", "abs", "sticky", "nope", "d/e", "d/sub/deep/f", ".", "dirlink/", "many", "a/"}, sameDevice},
		{"getfattr", []string{"getfattr", "IMAGE", "a", "d", "link", "B", "nope", "abs"}, []string{"getfattr", "-d", "-m", "-", "--absolute-names", "a", "d", "link", "B", "nope", "abs"}, nil},
		{"df", []string{"df", "IMAGE"}, []string{"df", "-B1", "."}, func(s string) string {
			s = regexp.MustCompile(`(?m)^/dev/loop[0-9]+`).ReplaceAllStringFunc(s, func(dev string) string {
				return fmt.Sprintf("%-*s", len(dev), "vda")
			})
			return strings.ReplaceAll(s, " "+mnt+"\n", " /\n")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := slices.Clone(c.ours)
			args[slices.Index(args, "IMAGE")] = img
			got := runCmd(t, exec.Command(lklimgBin, args...))
			gnu := exec.Command(c.gnu[0], c.gnu[1:]...)
			gnu.Dir = mnt
			gnu.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
			want := runCmd(t, gnu)
			want.stderr = strings.ReplaceAll(want.stderr, c.gnu[0]+": ", "lklimg: ")
			if c.fix != nil {
				got.stdout, want.stdout = c.fix(got.stdout), c.fix(want.stdout)
			}
			if got.stdout != want.stdout {
				t.Errorf("lklimg %v: stdout differs from %v's:\n--- lklimg\n%s\n--- %s\n%s", c.ours, c.gnu, got.stdout, c.gnu[0], want.stdout)
			}
			if got.stderr != want.stderr || got.code != want.code {
				t.Errorf("lklimg %v: exit %d, stderr:\n%s\n%v: exit %d, stderr:\n%s", c.ours, got.code, got.stderr, c.gnu, want.code, want.stderr)
			}
		})
	}
}
