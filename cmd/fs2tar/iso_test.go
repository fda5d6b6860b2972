//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestISO9660 exports ISO images made by xorriso, probed and with -t
// iso9660: a Rock Ridge and Joliet image, and hybrid ones, whole disks
// with a partition table (isohybrid's MBR, whose partition 1 starts at
// sector 0 and spans the image; a GPT after the ISO's system area). The
// ISO is found on the whole disk, as Linux's blkid finds it; the archive
// must hold what xorriso extracts (names, types, modes, owners, times to
// the second, contents, symlink targets), and the image must not change.
func TestISO9660(t *testing.T) {
	testutil.Need(t, "xorriso")
	src := filepath.Join(t.TempDir(), "src")
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"boot/boot.img", bytes.Repeat([]byte{0xEB, 0xFE}, 1024)},
		{"boot/efi.img", make([]byte, 64<<10)},
		{"readme.txt", []byte("an ISO image\n")},
		{"dir/Mixed Case Name.data", bytes.Repeat([]byte("data"), 5000)},
		{"dir/sub/deeper/leaf", []byte("leaf\n")},
	} {
		p := filepath.Join(src, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../readme.txt", filepath.Join(src, "dir", "link")); err != nil {
		t.Fatal(err)
	}
	mbr := filepath.Join(t.TempDir(), "mbr.bin")
	if err := os.WriteFile(mbr, make([]byte, 512), 0o644); err != nil {
		t.Fatal(err)
	}
	boot := []string{"-b", "boot/boot.img", "-no-emul-boot", "-boot-load-size", "4", "-c", "boot/boot.cat"}
	for _, c := range []struct {
		name    string
		args    []string
		entries int // the source's 11, and the boot catalog
	}{
		{"rockridge-joliet", []string{"-R", "-J"}, 11},
		{"isohybrid-mbr", append([]string{"-R", "-J", "-isohybrid-mbr", mbr}, boot...), 12},
		{"gpt", append([]string{"-R", "-J", "-append_partition", "2", "0xef", filepath.Join(src, "boot/efi.img"), "-appended_part_as_gpt"}, boot...), 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.XorrisoImage(t, src, c.args...)
			before := testutil.FileSum(t, img)
			want := testutil.XorrisoView(t, img)
			for _, typ := range []string{"", "iso9660"} {
				args := []string{img}
				if typ != "" {
					args = []string{"-t", typ, img}
				}
				got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
				if err != nil {
					t.Fatal(err)
				}
				// xorriso sets no time on the symlinks it makes.
				want["dir/link"].Mtime = got["dir/link"].Mtime
				for _, d := range testutil.Compare(want, got, testutil.CompareOptions{SkipPaths: []string{"."}, MtimeUnit: time.Second}) {
					t.Errorf("-t %q: xorriso vs fs2tar: %s", typ, d)
				}
				if len(got) != c.entries {
					t.Errorf("-t %q: %d entries, want %d", typ, len(got), c.entries)
				}
			}
			if testutil.FileSum(t, img) != before {
				t.Error("the image changed")
			}
		})
	}
}
