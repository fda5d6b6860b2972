package lklimgcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/urfave/cli/v2"
)

// TestMkfsErofs: `lklimg mkfs -t erofs` from a tar (compressed, or not),
// a host directory and stdin (tar2fs -t erofs -), each image mounted by
// the host kernel and compared with the tree; with SOURCE_DATE_EPOCH the
// same input makes the same bytes whichever way it comes.
func TestMkfsErofs(t *testing.T) {
	testutil.NeedLoop(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	tarPath, want := testutil.TreeArchive(t)
	// No time is later than SOURCE_DATE_EPOCH's.
	for _, e := range want {
		e.Mtime = min(e.Mtime, 1700000000e9)
	}
	o := testutil.TreeArchiveOptions()
	o.HoleUnit = 1 << 40 // erofs keeps no holes
	dir := t.TempDir()
	img := func(name string) string { return filepath.Join(dir, name) }
	check := func(name string, code int, stderr string, o testutil.CompareOptions) {
		t.Helper()
		if code != exitOK {
			t.Errorf("%s: exit %d: %s", name, code, stderr)
		}
		got := testutil.LoopView(t, img(name))
		testutil.ExpectSame(t, name, want, got, o)
		t.Logf("%s: %d entries compared", name, len(got))
	}
	code, _, stderr := runLklimg(t, "mkfs", "-t", "erofs", "-q", "-d", tarPath, img("tar.img"))
	check("tar.img", code, stderr, o)
	code, _, stderr = runLklimg(t, "mkfs", "-t", "erofs", "-zlz4hc,12", "-x1", "-Elegacy-compress", "-q",
		"-d", testutil.Compressed(t, tarPath, "gzip"), img("lz4hc.img"))
	check("lz4hc.img", code, stderr, o)

	// A directory: the walk reports its socket, which tar cannot carry.
	src, _ := testutil.NewTree(t)
	code, _, stderr = runLklimg(t, "mkfs", "-t", "erofs", "-zlz4", img("dir.img"), src)
	if code != exitFail || !strings.Contains(stderr, "socket") {
		t.Errorf("mkfs -d DIR: exit %d, stderr %q: want 1 and the socket said", code, stderr)
	}
	dirOpts := o
	dirOpts.SkipPaths = []string{"lost+found"} // the FIFO's second name is a hard link here
	check("dir.img", exitOK, "", dirOpts)

	// tar2fs from stdin: the same bytes as mkfs -d TAR.
	in, err := os.Open(testutil.Compressed(t, tarPath, "gzip"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	saved := os.Stdin
	os.Stdin = in
	code, _, stderr = runLklimg(t, "tar2fs", "-t", "erofs", "-", img("stdin.img"))
	os.Stdin = saved
	check("stdin.img", code, stderr, o)
	a, _ := os.ReadFile(img("tar.img"))
	b, _ := os.ReadFile(img("stdin.img"))
	if !bytes.Equal(a, b) {
		t.Errorf("tar2fs -t erofs - and mkfs -t erofs -d TAR made different images")
	}
	if bytes.Equal(a[1024+48:1024+64], make([]byte, 16)) {
		t.Errorf("the derived UUID is zero")
	}

	// What erofs cannot do is refused by name.
	for _, args := range [][]string{
		{"mkfs", "-t", "erofs", "-zlzo", "-d", tarPath, img("x.img")},
		{"mkfs", "-t", "erofs", "-Eztailpacking,fragments", "-d", tarPath, img("x.img")},
		{"tar2fs", "-t", "erofs", "-s", "10M", tarPath, img("x.img")},
	} {
		if code, _, stderr := runLklimg(t, args...); code != exitImage || stderr == "" {
			t.Errorf("%v: exit %d %q, want 2 and why", args, code, stderr)
		}
	}
}

// TestPermuteErofs: mkfs.erofs's options with their values attached, as
// its users write them, reach the flags split.
func TestPermuteErofs(t *testing.T) {
	status := 0
	cmds := []*cli.Command{erofsMkfsCommand(nil, nil, nil, &status)}
	in := "lklimg mkfs -t erofs -zlz4hc,9 -x1 -Eforce-inode-extended img -d dir"
	want := "lklimg mkfs -t erofs -z lz4hc,9 -x 1 -E force-inode-extended -d dir -- img"
	if got := strings.Join(permute(strings.Fields(in), cmds), " "); got != want {
		t.Errorf("permute(%s) = %s, want %s", in, got, want)
	}
}
