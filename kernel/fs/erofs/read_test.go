package erofs_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The oracle is the host kernel's erofs: images made by mkfs.erofs from
// testutil's tree (every kind of entry and metadata) and from trees of
// our own (big directories, files of many sizes and contents) are
// mounted loop,ro and scanned, and what the library kernel shows of them
// (through fs2tar's export) must agree entry by entry.

// mkfsErofs makes an image of src with mkfs.erofs ARGS.
func mkfsErofs(t testing.TB, src string, args ...string) string {
	t.Helper()
	return testutil.MkfsErofs(t, src, args...)
}

// kernelView exports the image's tree through the library kernel, the
// type probed.
func kernelView(t testing.TB, img string) testutil.Tree {
	return kerneltest.ExportTree(t, img, "", abi.MS_RDONLY, "")
}

// compareOptions are what the comparison leaves out: sockets (tar
// cannot carry them).
func compareOptions() testutil.CompareOptions {
	return testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
}

// randomBytes returns a generator of pseudo-random bytes from seed (an
// LCG: the same bytes on every run).
func randomBytes(seed uint32) func(n int) []byte {
	return func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			seed = seed*1664525 + 1013904223
			b[i] = byte(seed >> 24)
		}
		return b
	}
}

// bigTree makes testutil.MakeErofsBigTree's tree in a directory of the test's.
func bigTree(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "big")
	testutil.MakeErofsBigTree(t, dir)
	return dir
}

// erofsTree returns a copy of the shared tree mkfs.erofs can take.
func erofsTree(t testing.TB) string {
	t.Helper()
	src, _ := shared.Get(t)
	return testutil.ErofsTree(t, src)
}

func TestReadAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.erofs")
	src := erofsTree(t)
	big := bigTree(t)
	for _, c := range []struct {
		name string
		args []string
		// bigOnly: MakeTree's ids do not fit compact inodes.
		bigOnly bool
	}{
		{"plain", nil, false},
		{"plain-compact", []string{"-Eforce-inode-compact"}, true},
		{"plain-extended", []string{"-Eforce-inode-extended"}, false},
		{"plain-noinline", []string{"-Enoinline_data"}, false},
		{"chunks-4k", []string{"--chunksize=4096"}, false},
		{"chunks-64k-blockmap", []string{"--chunksize=65536", "-Eforce-inode-blockmap"}, false},
		{"chunks-1m", []string{"--chunksize=1048576"}, false},
		{"shared-xattrs", []string{"-x1"}, false},
		{"lz4", []string{"-zlz4"}, false},
		{"lz4hc", []string{"-zlz4hc"}, false},
		{"lz4hc-9", []string{"-zlz4hc,9"}, false},
		{"lz4-legacy", []string{"-zlz4", "-Elegacy-compress"}, false},
		{"lz4-ztailpacking", []string{"-zlz4hc", "-Eztailpacking"}, false},
		{"lz4-pcluster-16k", []string{"-zlz4hc", "-C16384"}, false},
		{"lz4-pcluster-64k-legacy", []string{"-zlz4hc", "-C65536", "-Elegacy-compress"}, false},
		{"lz4-pcluster-1m-ztail", []string{"-zlz4", "-C1048576", "-Eztailpacking"}, false},
		{"lz4-extended", []string{"-zlz4hc", "-Eforce-inode-extended", "-x1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, tree := range []struct{ name, dir string }{{"tree", src}, {"big", big}} {
				if c.bigOnly && tree.name == "tree" {
					continue
				}
				img := mkfsErofs(t, tree.dir, c.args...)
				want := testutil.LoopView(t, img)
				got := kernelView(t, img)
				testutil.ExpectSame(t, tree.name, want, got, compareOptions())
				t.Logf("%s: %d entries compared", tree.name, len(want))
			}
		})
	}
}

// TestReadNewerMkfs compares the layouts a newer mkfs.erofs makes and
// 1.5 (this test's minimum) cannot: the compressors its help lists
// beyond LZ4, fragments, dedupe and other block sizes, each case
// skipped when this mkfs.erofs refuses its options.
func TestReadNewerMkfs(t *testing.T) {
	testutil.Need(t, "mkfs.erofs")
	help, _ := exec.Command("mkfs.erofs", "--help").CombinedOutput()
	var cases [][]string
	for _, alg := range []string{"lzma", "deflate", "zstd"} {
		if regexp.MustCompile(`(?m)(^\s*|[:,] *)` + alg + `\b`).Match(help) {
			cases = append(cases, []string{"-z" + alg}, []string{"-z" + alg, "-C65536", "-Eztailpacking"})
		}
	}
	for _, e := range []string{"fragments", "all-fragments", "dedupe"} {
		if bytes.Contains(help, []byte(e)) {
			cases = append(cases, []string{"-zlz4hc", "-E" + e})
		}
	}
	if bytes.Contains(help, []byte("\n -b#")) {
		cases = append(cases, []string{"-b1024"}, []string{"-b512", "-zlz4hc"})
	}
	if len(cases) == 0 {
		t.Log("this mkfs.erofs makes nothing beyond what TestReadAgainstHost covers")
		return
	}
	src := erofsTree(t)
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "erofs.img")
			if out, err := exec.Command("mkfs.erofs", append(args, img, src)...).CombinedOutput(); err != nil {
				t.Logf("mkfs.erofs %s refused: %v\n%s", args, err, out)
				return
			}
			want := testutil.LoopView(t, img)
			testutil.ExpectSame(t, "host vs library kernel", want, kernelView(t, img), compareOptions())
		})
	}
}
