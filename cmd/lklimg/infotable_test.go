//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// splitInfo cuts info's output into the partition table (up to the first
// blank line before a device section) and the rest.
func splitInfo(t *testing.T, out string) (table, rest string) {
	t.Helper()
	if loc := sectionRE.FindStringIndex(out); loc != nil {
		return out[:loc[0]+1], out[loc[0]+1:]
	}
	return out, ""
}

// sectionRE finds the first device section of info's output.
var sectionRE = regexp.MustCompile(`\n\n(Partition [0-9]+ \(|Whole disk \()`)

// compareSfdiskList checks info's partition table against `sfdisk -l`
// (LC_ALL=C) on the image name in dir, less the I/O size line info leaves
// out. Info must have been run in dir on name too, and a partitioned
// image be called "vda", so that sfdisk names its partitions as the
// kernel does (vda1...).
func compareSfdiskList(t *testing.T, sfdisk, dir, name, got string) {
	t.Helper()
	cmd := exec.Command(sfdisk, "-l", name)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sfdisk -l: %v", err)
	}
	var want []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "I/O size") {
			want = append(want, l)
		}
	}
	if w := strings.Join(want, "\n"); got != w {
		t.Errorf("info's table:\n%s\nsfdisk -l:\n%s", got, w)
	}
}

// TestInfoTable lists an MBR disk with a boot flag, a FAT partition and
// logical partitions in an extended one, and a GPT disk with named
// partitions of several types, a 3 TiB sparse GPT disk (sizes in T and
// in M with a decimal), types fdisk has no name for, an MBR disk
// cut short after its first partition and a GPT disk whose primary header
// is corrupt, and compares the table with sfdisk -l.
func TestInfoTable(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	for _, c := range []struct {
		name, size, script string
		// cut, if set, is the size the image is cut to after sfdisk.
		cut string
		// corrupt, if set, overwrites the primary GPT header's signature.
		corrupt bool
	}{
		{"dos", "40M", "label: dos\nstart=2048, size=4096, type=83, bootable\nstart=6144, size=3000, type=c\n" +
			"start=10240, size=61440, type=5\nstart=12288, size=4096, type=82\nstart=18432, size=8192, type=8e\n" +
			"start=28672, size=2048, type=fd\nstart=71680, size=8192, type=ef\n", "", false},
		{"gpt", "2G", "label: gpt\nstart=2048, size=2048, type=uefi, name=\"esp\"\n" +
			"start=4096, size=2048, type=21686148-6449-6E6F-744E-656564454649\nstart=6144, size=3145728, type=linux\n" +
			"start=3151872, size=4096, type=swap\nstart=3155968, size=2048, type=lvm\nstart=3158016, type=raid\n", "", false},
		{"gpt-big", "3T", "label: gpt\nstart=2048, size=2576980378, name=\"big\"\nstart=2576982426, size=1000000\n", "", false},
		{"unknown-gpt-type", "12M", "label: gpt\nstart=2048, size=2048, type=11111111-2222-3333-4444-555555555555\n", "", false},
		{"unknown-dos-type", "12M", "label: dos\nstart=2048, size=2048, type=99\n", "", false},
		{"dos-cut", "40M", "label: dos\nstart=2048, size=4096\nstart=30000, size=20000\nstart=60000, size=8000\n", "20M", false},
		{"gpt-backup", "12M", "label: gpt\nstart=2048, size=2048, name=\"a\"\nstart=4096, size=4096, type=swap\n", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "vda")
			testutil.Run(t, "truncate", "-s", c.size, img)
			testutil.Sfdisk(t, img, c.script)
			if c.cut != "" {
				testutil.Run(t, "truncate", "-s", c.cut, img)
			}
			wantErr := ""
			if c.corrupt {
				f, err := os.OpenFile(img, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteAt([]byte("XXXXXXXX"), 512)
				if err := errors.Join(err, f.Close()); err != nil {
					t.Fatal(err)
				}
				wantErr = "lklimg: vda: the primary GPT table is corrupt, but the backup appears OK, so that will be used.\n"
			}
			info := exec.Command(lklimgBin, "info", "vda")
			info.Dir = dir
			r := runCmd(t, info)
			if r.code != 0 || r.stderr != wantErr {
				t.Fatalf("info: exit %d, stderr %q, want %q", r.code, r.stderr, wantErr)
			}
			table, _ := splitInfo(t, r.stdout)
			compareSfdiskList(t, sfdisk, dir, "vda", table)
		})
	}
}
