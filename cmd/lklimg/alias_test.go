//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestAliases runs lklimg's fs2tar, cp-in and cp-out beside the fs2tar,
// cptofs and cpfromfs binaries, each side in a directory of its own
// holding the same images (so that paths in messages are the same), and
// requires, step by step, the same stdout, stderr and exit status byte
// for byte, and the exit status the step expects; after the steps, the
// same files in both directories: tar archives byte for byte, images
// e2fsck finds clean, and trees copied out of them that are the same as
// each other and as the source.
func TestAliases(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	mke2fs, e2fsck := tools[0], tools[1]
	tmp := t.TempDir()
	bins := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bins, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := map[string]string{}
	for _, c := range []struct{ alias, pkg, name string }{
		{"fs2tar", "../fs2tar", "fs2tar"}, {"cp-in", "../cptofs", "cptofs"},
	} {
		bin, err := testutil.BuildInto(bins, c.pkg, c.name)
		if err != nil {
			t.Fatal(err)
		}
		prog[c.alias] = bin
	}
	prog["cp-out"] = filepath.Join(bins, "cpfromfs")
	if err := os.Symlink("cptofs", prog["cp-out"]); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(tmp, "src")
	makeTree(t, src)
	full, empty := filepath.Join(tmp, "full.img"), filepath.Join(tmp, "empty.img")
	testutil.Run(t, "truncate", "-s", "16M", full, empty)
	testutil.Run(t, mke2fs, "-q", "-F", "-E", "root_owner=0:0", "-I", "256", "-d", src, full)
	testutil.Run(t, mke2fs, "-q", "-F", "-E", "root_owner=0:0", "-I", "256", empty)
	srcTree := testutil.MustScanDir(t, src)

	type step struct {
		alias string
		args  []string // run in the side's directory: "img" is its image
		code  int
	}
	for _, c := range []struct {
		name  string
		image string // copied to "img" on both sides
		steps []step
		// files written by the steps: tars are compared byte for byte,
		// directories as trees, with each other and with src.
		tars, trees []string
	}{
		{"fs2tar to stdout", full, []step{{"fs2tar", []string{"img", "-"}, 0}}, nil, nil},
		{"fs2tar to a file", full, []step{
			{"fs2tar", []string{"-v", "--format", "gnu", "img", "out.tar"}, 0},
			{"fs2tar", []string{"-C", "d", "--numeric-owner", "--exclude", "sub", "img", "d.tar"}, 0},
			{"fs2tar", []string{"--zstd", "img", "out.tar.zst"}, 0},
		}, []string{"out.tar", "d.tar", "out.tar.zst"}, nil},
		{"fs2tar failing", full, []step{
			{"fs2tar", nil, 2},
			{"fs2tar", []string{"missing.img"}, 2},
			{"fs2tar", []string{"--nosuch", "img"}, 2},
			// An option after the operands is an operand, as fs2tar's
			// parser takes it: lklimg's reordering leaves it.
			{"fs2tar", []string{"img", "-", "-v"}, 2},
			{"fs2tar", []string{"-C", "nope", "img"}, 2},
			{"fs2tar", []string{"img", "nodir/out.tar"}, 1},
			{"fs2tar", []string{"--help"}, 0},
		}, nil, nil},
		{"cp-in then cp-out", empty, []step{
			{"cp-in", []string{"-v", "-i", "img", src + "/.", "/dst"}, 0},
			{"cp-out", []string{"-i", "img", "/dst", "out"}, 0},
			{"cp-out", []string{"-v", "-i", "img", "/dst/a", "/dst/d", "."}, 0},
			{"cp-in", []string{"--from", "-i", "img", "/dst/B", "B-from"}, 0},
			{"cp-in", []string{"--dry-run", "-i", "img", src + "/a", "/dry"}, 0},
		}, nil, []string{"out"}},
		{"cp failing", full, []step{
			{"cp-in", []string{src, "/dst"}, 2},
			{"cp-in", []string{"-i", "img", src}, 2},
			{"cp-in", []string{"-i", "missing.img", src, "/"}, 2},
			{"cp-out", []string{"-i", "img", "/nope", "/a", "out"}, 1},
			{"cp-out", []string{"-i", "img", "--", "-x", "out2"}, 1},
			{"cp-in", []string{"-i", "img", src + "/nope", "/"}, 1},
			{"cp-in", []string{"--help"}, 0},
			{"cp-out", []string{"--help"}, 0},
		}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := filepath.Join(tmp, c.name, "lklimg"), filepath.Join(tmp, c.name, "standalone")
			for _, dir := range []string{ours, theirs} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				testutil.Run(t, "cp", "--sparse=always", c.image, filepath.Join(dir, "img"))
			}
			for _, s := range c.steps {
				cmd := exec.Command(lklimgBin, append([]string{s.alias}, s.args...)...)
				cmd.Dir = ours
				got := runCmd(t, cmd)
				cmd = exec.Command(prog[s.alias], s.args...)
				cmd.Dir = theirs
				want := runCmd(t, cmd)
				if got != want {
					t.Errorf("lklimg %s %q:\nexit %d, stdout %d bytes, stderr:\n%s\n%s: exit %d, stdout %d bytes, stderr:\n%s",
						s.alias, s.args, got.code, len(got.stdout), got.stderr, filepath.Base(prog[s.alias]), want.code, len(want.stdout), want.stderr)
				}
				if got.code != s.code {
					t.Errorf("lklimg %s %q: exit %d, want %d; stderr:\n%s", s.alias, s.args, got.code, s.code, got.stderr)
				}
				if s.alias == "fs2tar" && slices.Contains(s.args, "-") && got.code == 0 {
					checkTar(t, []byte(got.stdout), srcTree)
				}
			}
			for _, name := range c.tars {
				a, errA := os.ReadFile(filepath.Join(ours, name))
				b, errB := os.ReadFile(filepath.Join(theirs, name))
				if errA != nil || errB != nil || !bytes.Equal(a, b) || len(a) == 0 {
					t.Errorf("%s: %d bytes (%v) from lklimg, %d (%v) from the command", name, len(a), errA, len(b), errB)
				}
			}
			for _, dir := range []string{ours, theirs} {
				out, err := exec.Command(e2fsck, "-fn", filepath.Join(dir, "img")).CombinedOutput()
				if err != nil {
					t.Errorf("e2fsck -fn %s: %v\n%s", dir, err, out)
				}
			}
			for _, name := range c.trees {
				a := testutil.MustScanDir(t, filepath.Join(ours, name))
				b := testutil.MustScanDir(t, filepath.Join(theirs, name))
				testutil.ExpectSame(t, name+", lklimg vs the commands", a, b, testutil.CompareOptions{})
				testutil.ExpectSame(t, name+", lklimg vs the source", a, srcTree, testutil.CompareOptions{})
			}
		})
	}
}

// checkTar requires archive to hold the same tree as the source, the
// image's lost+found aside (mkfs.ext4 -d keeps whole seconds).
func checkTar(t *testing.T, archive []byte, src testutil.Tree) {
	t.Helper()
	got, err := testutil.ScanTar(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	testutil.ExpectSame(t, "the archive vs the source", got, src, testutil.CompareOptions{SkipPaths: []string{"lost+found"}, MtimeUnit: time.Second})
}

// TestAliasesListed: lklimg's help lists the aliases, each with the
// command it runs.
func TestAliasesListed(t *testing.T) {
	r := runCmd(t, exec.Command(lklimgBin, "--help"))
	for _, line := range []string{"fs2tar    write the filesystem as a tar archive, as fs2tar",
		"cp-in     copy host files into the image, as cptofs", "cp-out    copy files out of the image, as cpfromfs"} {
		if r.code != 0 || !strings.Contains(r.stdout, "\n   "+line) {
			t.Errorf("lklimg --help: exit %d, no line %q in:\n%s", r.code, line, r.stdout)
		}
	}
}
