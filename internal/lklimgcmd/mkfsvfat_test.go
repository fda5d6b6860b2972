package lklimgcmd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/dosfstools"
)

func TestMkfsTypeArg(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lklimg", "mkfs", "-t", "vfat", "x"}, "vfat"},
		{[]string{"lklimg", "mkfs", "-tmsdos", "x"}, "msdos"},
		{[]string{"lklimg", "mkfs", "--type=vfat", "x"}, "vfat"},
		{[]string{"lklimg", "mkfs", "x", "--type", "vfat"}, "vfat"},
		{[]string{"lklimg", "mkfs", "-qt", "vfat", "x"}, "vfat"},
		{[]string{"lklimg", "mkfs", "-s", "1G", "x"}, ""},
		{[]string{"lklimg", "mkfs", "--", "-t", "vfat"}, ""},
		{[]string{"lklimg", "ls", "-t", "vfat"}, ""},
	} {
		if got := mkfsTypeArg(c.args); got != c.want {
			t.Errorf("mkfsTypeArg(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// TestVfatParamsIdentity: the volume's time and ID from --invariant,
// SOURCE_DATE_EPOCH, -i and the clock.
func TestVfatParamsIdentity(t *testing.T) {
	epoch := int64(1700000000)
	now := time.Unix(1600000000, 123456000).In(time.FixedZone("X", 3600))
	for _, c := range []struct {
		name   string
		f      vfatFlags
		epoch  *int64
		time   int64
		offset int
		id     uint32
	}{
		{"clock", vfatFlags{}, nil, 1600000000, 3600, uint32(1600000000<<20&0xFFFFFFFF | 123456)},
		{"epoch", vfatFlags{}, &epoch, epoch, 0, uint32(epoch) << 20},
		{"invariant", vfatFlags{invariant: true}, &epoch, dosfstools.InvariantTime, 0, dosfstools.InvariantVolumeID},
		{"-i", vfatFlags{volID: "0xDEADbeef"}, &epoch, epoch, 0, 0xDEADBEEF},
	} {
		p, err := vfatParams(&c.f, c.epoch, now)
		if err != nil || p.Time != c.time || p.TimeOffset != c.offset || p.VolumeID != c.id {
			t.Errorf("%s: %v time %d offset %d id %08x; want %d %d %08x", c.name, err, p.Time, p.TimeOffset, p.VolumeID,
				c.time, c.offset, c.id)
		}
	}
	for _, f := range []vfatFlags{{volID: "xyz"}, {volID: "123456789"}, {secPerClus: "0"}, {fatBits: "abc"},
		{reserved: "70000"}} {
		if _, err := vfatParams(&f, nil, now); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
}

// runLklimg runs lklimg in this process.
func runLklimg(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(append([]string{"lklimg"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestMkfsVfatAsMkfsFat: `lklimg mkfs -t vfat` makes mkfs.fat's bytes and
// prints what mkfs.fat -v prints: with SOURCE_DATE_EPOCH at --invariant's
// time and its volume ID, the image is mkfs.fat --invariant's; with
// SOURCE_DATE_EPOCH alone, the volume ID is the clock's at that second.
func TestMkfsVfatAsMkfsFat(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "fsck.fat")
	dir := t.TempDir()
	for _, c := range []struct {
		size string
		args []string // both
		ours []string
		env  int64
	}{
		{"1440K", nil, []string{"-i", "1234abcd"}, dosfstools.InvariantTime},
		{"100M", []string{"-n", "ESP"}, []string{"-i", "1234abcd"}, dosfstools.InvariantTime},
		{"600M", []string{"-n", "lower", "-s", "1", "-R", "8"}, []string{"--invariant"}, 0},
		{"64M", []string{"-F", "32", "-f", "1", "-r", "64"}, []string{"-t", "msdos", "--invariant"}, 0},
		{"300M", []string{"-F", "32", "-R", "12", "-b", "3", "-D", "0x81", "-g", "64/32", "-M", "0xF9"}, []string{"--invariant"}, 0},
		{"2G", nil, nil, dosfstools.InvariantTime - 1<<12}, // the ID differs
	} {
		ours, ref := filepath.Join(dir, "ours-"+c.size), filepath.Join(dir, "ref-"+c.size)
		args := append(append([]string{"mkfs", "-t", "vfat"}, c.ours...), c.args...)
		if c.env != 0 {
			t.Setenv("SOURCE_DATE_EPOCH", fmt.Sprint(c.env))
		}
		code, stdout, stderr := runLklimg(t, append(args, ours, c.size)...)
		os.Unsetenv("SOURCE_DATE_EPOCH")
		if code != 0 {
			t.Fatalf("%v: status %d\n%s", args, code, stderr)
		}
		testutil.Run(t, "truncate", "-s", c.size, ref)
		refArgs := append([]string{"-v", "--invariant"}, c.args...)
		if c.env != 0 && c.env != dosfstools.InvariantTime {
			// mkfs.fat's ID had its clock been at c.env (usec 0); the
			// label has no time here.
			refArgs = append(refArgs, "-i", fmt.Sprintf("%08x", dosfstools.VolumeIDAt(c.env, 0)))
		}
		out, err := exec.Command("mkfs.fat", append(refArgs, ref)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mkfs.fat: %v\n%s", err, out)
		}
		if !testutil.SameFiles(t, ours, ref) {
			t.Errorf("%s %v: the image differs from mkfs.fat's", c.size, args)
		}
		want := strings.ReplaceAll(string(out), ref, ours)
		if !strings.Contains(want, stdout) || !strings.Contains(want, stderr) {
			t.Errorf("%s: printed\n%s%s\nmkfs.fat printed\n%s", c.size, stdout, stderr, want)
		}
		if out, err := exec.Command("fsck.fat", "-n", ours).CombinedOutput(); err != nil {
			t.Errorf("fsck.fat -n: %v\n%s", err, out)
		}
		os.Remove(ours)
		os.Remove(ref)
	}
}

// TestMkfsVfatExisting: on an existing file (no SIZE), the volume fills
// it, and what mkfs.fat leaves of the file's bytes we leave too: the same
// bytes from a file of random bytes.
func TestMkfsVfatExisting(t *testing.T) {
	testutil.Need(t, "mkfs.fat")
	dir := t.TempDir()
	ours, ref := filepath.Join(dir, "ours"), filepath.Join(dir, "ref")
	junk := make([]byte, 3<<20+7*512)
	for i := range junk {
		junk[i] = byte(i*131 + i>>9)
	}
	for _, p := range []string{ours, ref} {
		if err := os.WriteFile(p, junk, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "--invariant", "-F", "16", "-s", "1", "-n", "OLD", ours); code != 0 {
		t.Fatalf("mkfs: status %d\n%s", code, stderr)
	}
	testutil.Run(t, "mkfs.fat", "--invariant", "-F", "16", "-s", "1", "-n", "OLD", ref)
	if got, want := testutil.ReadAt(t, ours, 0, int64(len(junk))), testutil.ReadAt(t, ref, 0, int64(len(junk))); !bytes.Equal(got, want) {
		t.Error("the image differs from mkfs.fat's")
	}
}

// TestMkfsVfatPartition: -P N makes the volume of the partition's size
// on it, its hidden sectors the partition's start and its geometry the
// disk's (as mkfs.fat on /dev/loop0p1 reads them from sysfs): mkfs.fat
// -h START -g HEADS/SECTORS on a file of the partition's size makes the
// same bytes. Nothing outside the partition changes.
func TestMkfsVfatPartition(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "sfdisk")
	dir := t.TempDir()
	img, ref := filepath.Join(dir, "disk.img"), filepath.Join(dir, "part.img")
	testutil.Run(t, "truncate", "-s", "200M", img)
	testutil.Sfdisk(t, img, "label: gpt\nstart=2048, size=100M, type=uefi\nsize=50M\n")
	before := testutil.ReadAt(t, img, 0, 1<<20)
	if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-P", "1", "--invariant", "-n", "ESP", img); code != 0 {
		t.Fatalf("mkfs -P 1: status %d\n%s", code, stderr)
	}
	if !bytes.Equal(before, testutil.ReadAt(t, img, 0, 1<<20)) {
		t.Error("the table changed")
	}
	testutil.Run(t, "truncate", "-s", "100M", ref)
	testutil.Run(t, "mkfs.fat", "--invariant", "-n", "ESP", "-h", "2048", "-g", "16/32", ref)
	if !bytes.Equal(testutil.ReadAt(t, img, 1<<20, 100<<20), testutil.ReadAt(t, ref, 0, 100<<20)) {
		t.Error("the partition differs from mkfs.fat -h 2048 -g 16/32's volume")
	}
}

func TestMkfsVfatErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.img")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-O", "casefold", img, "16M"}, "-O is an option of mke2fs (-t ext4), not of mkfs.fat"},
		{[]string{"-L", "X", img, "16M"}, "-L is an option of mke2fs"},
		{[]string{"-s", "3", img, "16M"}, "Bad number of sectors per cluster"},
		{[]string{"-s", "64M", img}, "Bad number of sectors per cluster"},
		{[]string{"-F", "32", img, "20K"}, "Attempting to create a too small or a too large filesystem"},
		{[]string{"-F", "12", img, "300M"}, "Attempting to create a too small or a too large filesystem"},
		{[]string{"-n", "ABCDEFGHIJKL", img, "16M"}, "Label can be no longer than 11 characters"},
		{[]string{"-i", "nothex", img, "16M"}, "Volume ID must be a hexadecimal number"},
		{[]string{"-g", "16", img, "16M"}, "Bad format of geometry"},
		{[]string{"-F", "32", "-b", "40", img, "100M"}, "Backup boot sector must be a reserved sector"},
		{[]string{img, "16M", "extra"}, "usage: lklimg mkfs -t vfat"},
		{[]string{img}, "the image is empty: give its SIZE"},
	} {
		code, _, stderr := runLklimg(t, append([]string{"mkfs", "-t", "vfat"}, c.args...)...)
		if code != exitImage || !strings.Contains(stderr, c.want) {
			t.Errorf("mkfs -t vfat %v: status %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("mkfs -t vfat %v: left %s", c.args, img)
			os.Remove(img)
		}
	}
	// tar2fs fills only what mke2fs makes.
	if code, _, stderr := runLklimg(t, "tar2fs", "-t", "vfat", "a.tar", img); code != exitImage || !strings.Contains(stderr, "-t vfat") {
		t.Errorf("tar2fs -t vfat: status %d, stderr %q", code, stderr)
	}
}
