//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestFAT exports FAT12, FAT16 and FAT32 volumes made by mkfs.fat and
// filled by mcopy, whole and in MBR and GPT partitions, probed and with
// -t vfat (msdos, fat): the archive must hold what mtools extracts (names, sizes,
// contents, mtimes to 2 s) and the source tree, with the modes and owners
// Linux's vfat gives with its defaults (uid=0, gid=0, umask=022: 0755
// for files and directories alike, fs/fat/inode.c fat_make_mode) or with
// the masks and owners given as mount options.
func TestFAT(t *testing.T) {
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			img, src := testutil.NewFATImage(t, c)
			before := testutil.FileSum(t, img.Path)
			mtools := testutil.MtoolsView(t, img)
			source := testutil.MustScanDir(t, src)
			if len(mtools) < 74 {
				t.Fatalf("mtools extracted %d entries", len(mtools))
			}
			// fat names the vfat driver too; msdos is checked below.
			for _, typ := range []string{"", "vfat", "fat"} {
				args := img.PartitionFlag()
				if typ != "" {
					args = append(args, "-t", typ)
				}
				got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, append(args, img.Path)...)))
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range testutil.Compare(mtools, got, testutil.FATCompare()) {
					t.Errorf("-t %q: mcopy -s -m vs fs2tar: %s", typ, d)
				}
				for _, d := range testutil.Compare(source, got, testutil.FATCompare()) {
					t.Errorf("-t %q: source vs fs2tar: %s", typ, d)
				}
				for p, e := range got {
					if e.Mode != 0o755 || e.Uid != 0 || e.Gid != 0 {
						t.Errorf("-t %q: %s: mode %o owner %d:%d, want 755 0:0", typ, p, e.Mode, e.Uid, e.Gid)
					}
				}
			}

			// -t msdos: the same entries by their 8.3 names, in lower
			// case (Linux's msdos: no long names).
			dos, err := testutil.ScanTar(bytes.NewReader(mustExport(t, append(img.PartitionFlag(), "-t", "msdos", img.Path)...)))
			if err != nil {
				t.Fatal(err)
			}
			short := regexp.MustCompile(`^[^./A-Z]{1,8}(\.[^./A-Z]{1,3})?$`)
			var sizesA, sizesB []int64
			for p, e := range dos {
				for _, part := range strings.Split(p, "/") {
					if p != "." && !short.MatchString(part) {
						t.Errorf("-t msdos: %q is not a lower-case 8.3 name", p)
					}
				}
				if e.Type == testutil.TypeFile {
					sizesB = append(sizesB, e.Size)
				}
			}
			for _, e := range mtools {
				if e.Type == testutil.TypeFile {
					sizesA = append(sizesA, e.Size)
				}
			}
			slices.Sort(sizesA)
			slices.Sort(sizesB)
			if len(dos) != len(mtools) || !slices.Equal(sizesA, sizesB) {
				t.Errorf("-t msdos: %d entries (files of sizes %v), mtools %d (%v)", len(dos), sizesB, len(mtools), sizesA)
			}

			// Owners and masks from mount options.
			args := append(img.PartitionFlag(), "--mount-options", "uid=1000,gid=100,fmask=0137,dmask=0027", img.Path)
			got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
			if err != nil {
				t.Fatal(err)
			}
			for p, e := range got {
				want := uint32(0o640)
				if e.Type == testutil.TypeDir {
					want = 0o750
				}
				if e.Mode != want || e.Uid != 1000 || e.Gid != 100 {
					t.Errorf("masks: %s: mode %o owner %d:%d, want %o 1000:100", p, e.Mode, e.Uid, e.Gid, want)
				}
			}
			if testutil.FileSum(t, img.Path) != before {
				t.Error("the image changed")
			}
		})
	}
}

// TestFATShowexec: with showexec only .exe, .com and .bat files are
// executable (fat_make_mode's is_exec), the rest 0644.
func TestFATShowexec(t *testing.T) {
	c := testutil.FATCases()[0]
	img := testutil.MakeEmptyFAT(t, c)
	dir := t.TempDir()
	for i, n := range []string{"run.exe", "RUN2.COM", "x.bat", "x.txt", "bat", "exe.no"} {
		testutil.Mtools(t, "mcopy", "-i", img.Path, writeFile(t, dir, n, strconv.Itoa(i)), "::/"+n)
	}
	got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, "--mount-options", "showexec", img.Path)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{".": 0o755, "run.exe": 0o755, "RUN2.COM": 0o755, "x.bat": 0o755, "x.txt": 0o644, "bat": 0o644, "exe.no": 0o644}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
	for p, m := range want {
		if e := got[p]; e == nil || e.Mode != m {
			t.Errorf("%s: %+v, want mode %o", p, e, m)
		}
	}
}

// writeFile writes a host file named name in dir holding data.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
