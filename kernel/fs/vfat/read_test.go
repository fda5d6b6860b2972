package vfat_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The read side is checked against mtools, the oracle for FAT here (this
// host's kernel has no vfat): a tree with every kind of name FAT holds is
// copied into images made by mkfs.fat with mcopy, and what the library
// kernel shows of them (through fs2tar's export) must be the tree, names,
// sizes, contents and modification times (FAT keeps 2-second steps).

// names are the file names the tree covers: 8.3 names in upper case
// (a short entry alone), in lower case and with a lower-case base or
// extension (the NT case bits), mixed case and long names (long-name
// slots), names of exactly 13 and 26 units (slot boundaries), the
// longest (255 units), Unicode (mtools 4.0.32 cuts characters beyond the
// BMP to 16 bits, so surrogate pairs are left to the write tests),
// spaces, several dots, a leading dot.
func names(r *rand.Rand) []string {
	n := []string{
		"README.TXT", "readme2.txt", "lower.TXT", "UPPER.txt", "MixedCase.Txt", "noext", "NOEXT2",
		"a", "8CHARSXX.EXT", "exactly13.uni", "exactly-26-units-long.name", "with space.txt",
		"many.dots.in.name", ".leading", "Ünïcödé – ☃.txt", "Ελληνικά και ☃ snow.md", "日本語のファイル名.txt",
		strings.Repeat("x", 255), "a.b", "trailing~1.txt", "TILDE~1.TXT",
	}
	for i := range 30 {
		n = append(n, fmt.Sprintf("generated name %d with %x.dat", i, r.Uint32()))
	}
	return n
}

// makeTree writes the tree: the names in the root and in a directory
// deep down, a directory of many entries (several clusters of them), and
// files of many sizes, one fragmented by deletions.
func makeTree(t *testing.T, dir string, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	write := func(p string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(1980+r.IntN(120), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names(r) {
		write(filepath.Join(dir, n), r.IntN(5000))
		write(filepath.Join(dir, "deep/er/and/deeper", n), r.IntN(100))
	}
	for i := range 300 {
		write(filepath.Join(dir, "Many Entries", fmt.Sprintf("entry number %03d of many", i)), r.IntN(40))
	}
	write(filepath.Join(dir, "empty"), 0)
	write(filepath.Join(dir, "big.bin"), 3<<20+123)
}

// mtools runs an mtools command on img with the time zone pinned to UTC
// (mtools writes local time) and its geometry check off.
func mtools(t *testing.T, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// mkfsFAT makes a new empty FAT image of SIZE (truncate's form) with
// mkfs.fat ARGS.
func mkfsFAT(t *testing.T, size string, args ...string) string {
	t.Helper()
	testutil.Need(t, "mkfs.fat")
	img := filepath.Join(t.TempDir(), "fat.img")
	if err := exec.Command("truncate", "-s", size, img).Run(); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.fat", append(args, img)...)
	return img
}

// fatImage makes an image of the tree with mkfs.fat ARGS and mcopy, a
// file deleted and another written over its place to fragment a chain.
func fatImage(t *testing.T, src, size string, mkfsArgs ...string) string {
	testutil.Need(t, "mkfs.fat", "mcopy", "mdel")
	img := mkfsFAT(t, size, mkfsArgs...)
	var top []string
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		top = append(top, filepath.Join(src, e.Name()))
	}
	mtools(t, "mcopy", append([]string{"-s", "-m", "-i", img}, append(top, "::")...)...)
	// Fragment: free a small file's clusters in the middle of the data,
	// then write a larger file that takes them and more.
	mtools(t, "mdel", "-i", img, "::/deep/er/and/deeper/a")
	frag := filepath.Join(t.TempDir(), "fragmented.bin")
	b := bytes.Repeat([]byte("fragment"), 40000)
	if err := os.WriteFile(frag, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mtools(t, "mcopy", "-m", "-i", img, frag, "::/fragmented.bin")
	// The source follows, its directory's time kept as the image has it.
	deeper := filepath.Join(src, "deep/er/and/deeper")
	st, err := os.Stat(deeper)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(deeper, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(deeper, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(frag, filepath.Join(src, "fragmented.bin")); err != nil {
		t.Fatal(err)
	}
	return img
}

// kernelView exports the image's tree through the library kernel, the
// type probed.
func kernelView(t *testing.T, img, opts string) testutil.Tree {
	return kerneltest.ExportTree(t, img, "", abi.MS_RDONLY, opts)
}

func TestReadMtoolsImages(t *testing.T) {
	for _, c := range []struct {
		name, size string
		args       []string
	}{
		{"fat12", "12M", []string{"-F", "12", "-s", "8"}},
		{"fat16", "64M", []string{"-F", "16"}},
		{"fat16-bigcluster", "512M", []string{"-F", "16", "-s", "64"}},
		{"fat32", "300M", []string{"-F", "32"}},
		{"fat32-4k", "300M", []string{"-F", "32", "-S", "4096"}},
		{"fat32-onefat", "100M", []string{"-F", "32", "-f", "1", "-s", "2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			makeTree(t, src, uint64(len(c.name)))
			img := fatImage(t, src, c.size, c.args...)
			want, err := testutil.ScanDir(src)
			if err != nil {
				t.Fatal(err)
			}
			got := kernelView(t, img, "")
			diffs := testutil.Compare(want, got, testutil.CompareOptions{
				Ignore:    []string{"mode", "uid", "gid", "xattrs", "links"},
				SkipPaths: []string{"."},
				MtimeUnit: 2 * time.Second,
			})
			for _, d := range diffs {
				t.Error(d)
			}
		})
	}
}
