package testutil

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FAT images for the commands' tests. This host's kernel has no vfat, so
// the oracles are mtools (mcopy fills an image and extracts it, mdir and
// mattrib show it) and fsck.fat -n; images are made by mkfs.fat.

// FATCompare is how a tree read from a FAT volume compares with mtools'
// extraction or with its source: names, sizes, contents and mtimes in
// FAT's 2-second steps. Modes and owners come from mount options (and
// mcopy's from its umask), FAT has no xattrs or hard links; the root has
// no times on FAT.
func FATCompare() CompareOptions {
	return CompareOptions{
		Ignore:    []string{"mode", "uid", "gid", "xattrs", "links"},
		SkipPaths: []string{"."},
		MtimeUnit: 2 * time.Second,
	}
}

// FATCase is one FAT layout the commands are tested on.
type FATCase struct {
	Name string
	Size string   // the volume's size (truncate's form)
	Mkfs []string // mkfs.fat's options
	// Label is "dos" or "gpt" for a volume in partition 1 of a disk
	// with that table, at 1 MiB; "" for a whole-disk volume.
	Label string
}

// FATCases are FAT12, FAT16 and FAT32 on whole images, and a FAT16 and a
// FAT32 in MBR and GPT partitions.
func FATCases() []FATCase {
	return []FATCase{
		{Name: "fat12", Size: "8M", Mkfs: []string{"-F", "12"}},
		{Name: "fat16", Size: "40M", Mkfs: []string{"-F", "16"}},
		{Name: "fat32", Size: "80M", Mkfs: []string{"-F", "32", "-s", "1"}},
		{Name: "mbr-fat16", Size: "40M", Mkfs: []string{"-F", "16"}, Label: "dos"},
		{Name: "gpt-fat32", Size: "80M", Mkfs: []string{"-F", "32", "-s", "1"}, Label: "gpt"},
	}
}

// FATImage is a FAT volume made by mkfs.fat: the image file and, for a
// volume in a partition, its byte offset there.
type FATImage struct {
	Path   string
	Offset int64
}

// Mtools names the volume for mtools' -i (IMAGE@@OFFSET in a partition).
func (f FATImage) Mtools() string {
	if f.Offset == 0 {
		return f.Path
	}
	return f.Path + "@@" + strconv.FormatInt(f.Offset, 10)
}

// PartitionFlag is the commands' -P 1 for a volume in a partition,
// nothing for a whole-disk one.
func (f FATImage) PartitionFlag() []string {
	if f.Offset == 0 {
		return nil
	}
	return []string{"-P", "1"}
}

// NewFATImage makes MakeFATTree's tree in a new directory and a volume of
// c's layout holding it (MakeFATImage), and returns both.
func NewFATImage(t testing.TB, c FATCase) (img FATImage, src string) {
	t.Helper()
	src = t.TempDir()
	MakeFATTree(t, src)
	return MakeFATImage(t, c, src), src
}

// Mtools runs an mtools command with the time zone pinned to UTC (mtools
// reads and writes local time), its geometry check off and names in
// UTF-8, and returns its output; a failure fails the test.
func Mtools(t testing.TB, tool string, args ...string) []byte {
	t.Helper()
	Need(t, tool)
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", tool, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// MakeFATTree writes a tree FAT holds into dir (which exists): 8.3 names
// in upper and lower case, mixed-case and long names, names of 13 and 26
// UTF-16 units (long-name slot boundaries) and of 255, non-ASCII names,
// nested directories, an empty directory and an empty file, a file of
// many clusters, and times from 1980 to 2099 in odd seconds (FAT keeps 2).
func MakeFATTree(t testing.TB, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(15, 1))
	stamp := func(p string) {
		mt := time.Date(1980+r.IntN(120), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	file := func(rel string, size int) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		stamp(p)
	}
	names := []string{
		"README.TXT", "lower.txt", "MixedCase.Txt", "NOEXT", "noext2", "a", "exactly13.uni",
		"exactly-26-units-long.name", "with space and.many.dots", "Ünïcödé – ☃.txt",
		"日本語のファイル名.txt", "Ελληνικά.md", strings.Repeat("L", 250) + ".long",
	}
	for i, n := range names {
		file(n, r.IntN(3000))
		file(filepath.Join("Nested Directory", "deeper", "and deepest", n), i)
	}
	for i := range 40 {
		file(filepath.Join("many", fmt.Sprintf("entry %02d of a directory of several clusters", i)), r.IntN(100))
	}
	file("empty", 0)
	file("several-clusters.bin", 300<<10+17)
	if err := os.Mkdir(filepath.Join(dir, "Empty Dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Directories' times last, once their entries are in.
	for _, d := range []string{"Empty Dir", "many", "Nested Directory/deeper/and deepest", "Nested Directory/deeper", "Nested Directory"} {
		stamp(filepath.Join(dir, d))
	}
}

// MakeFATImage makes a FAT volume of c's layout with mkfs.fat and copies
// the tree in src into it with mcopy -s -m; then it fragments a file:
// a small file is deleted and a larger one written in its place and
// beyond, in the image and in src. The image is in a new temporary
// directory of the test's.
func MakeFATImage(t testing.TB, c FATCase, src string) FATImage {
	t.Helper()
	img := MakeEmptyFAT(t, c)
	var top []string
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		top = append(top, filepath.Join(src, e.Name()))
	}
	Mtools(t, "mcopy", append([]string{"-s", "-m", "-i", img.Mtools()}, append(top, "::")...)...)
	dir := filepath.Join(src, "Nested Directory/deeper/and deepest")
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	Mtools(t, "mdel", "-i", img.Mtools(), "::/Nested Directory/deeper/and deepest/a")
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	frag := filepath.Join(src, "fragmented.bin")
	if err := os.WriteFile(frag, bytes.Repeat([]byte("fragment"), 20000), 0o644); err != nil {
		t.Fatal(err)
	}
	Mtools(t, "mcopy", "-m", "-i", img.Mtools(), frag, "::/fragmented.bin")
	return img
}

// MakeEmptyFAT makes an empty FAT volume of c's layout: a file of c.Size
// formatted by mkfs.fat, or a disk with c.Label's table whose partition 1
// (from 1 MiB, c.Size long) mkfs.fat formats at its offset.
func MakeEmptyFAT(t testing.TB, c FATCase) FATImage {
	t.Helper()
	mkfs := Need(t, "mkfs.fat")[0]
	img := FATImage{Path: filepath.Join(t.TempDir(), c.Name+".img")}
	size, err := parseSize(c.Size)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{}, c.Mkfs...)
	if c.Label != "" {
		img.Offset = 1 << 20
		if err := os.WriteFile(img.Path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// Room for the backup GPT after the partition.
		if err := os.Truncate(img.Path, img.Offset+size+1<<20); err != nil {
			t.Fatal(err)
		}
		Sfdisk(t, img.Path, fmt.Sprintf("label: %s\nstart=2048, size=%d, type=%s\n", c.Label, size/512,
			map[string]string{"dos": "c", "gpt": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"}[c.Label]))
		args = append(args, "--offset", strconv.FormatInt(img.Offset/512, 10), img.Path, strconv.FormatInt(size/1024, 10))
	} else {
		if err := os.WriteFile(img.Path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img.Path, size); err != nil {
			t.Fatal(err)
		}
		args = append(args, img.Path)
	}
	Run(t, mkfs, args...)
	return img
}

// parseSize reads truncate's sizes: a number of bytes with K, M or G.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "KMG"), 10, 64)
	return n * mult, err
}

// MtoolsView extracts the volume with mcopy -s -m and scans the copy.
func MtoolsView(t testing.TB, img FATImage) Tree {
	t.Helper()
	out := t.TempDir()
	Mtools(t, "mcopy", "-s", "-m", "-n", "-i", img.Mtools(), "::/*", out)
	return MustScanDir(t, out)
}

// FsckFATClean runs fsck.fat -n on the volume (copied out of its
// partition first: fsck.fat takes no offset) and fails the test on
// anything it reports, the dirty bit included.
func FsckFATClean(t testing.TB, img FATImage) {
	t.Helper()
	fsck := Need(t, "fsck.fat")[0]
	path := img.Path
	if img.Offset != 0 {
		data, err := os.ReadFile(img.Path)
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(t.TempDir(), "volume.img")
		if err := os.WriteFile(path, data[img.Offset:], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(fsck, "-n", "-V", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "\n  ") || strings.Contains(string(out), "Dirty bit") {
		t.Fatalf("fsck.fat -n -V: %v\n%s", err, out)
	}
}

// MattribFlags returns what mattrib shows of each path (A, R, S, H as it
// prints them, spaces removed): mattrib -/ of the whole volume.
func MattribFlags(t testing.TB, img FATImage) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, line := range strings.Split(string(Mtools(t, "mattrib", "-/", "-i", img.Mtools(), "::")), "\n") {
		i := strings.Index(line, "::/")
		if i < 0 {
			continue
		}
		flags[strings.TrimPrefix(line[i+3:], "/")] = strings.ReplaceAll(line[:i], " ", "")
	}
	return flags
}
