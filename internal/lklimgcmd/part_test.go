package lklimgcmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/fdisk"
)

// partCases are scripts `lklimg part` and sfdisk both write, on images
// of the same size, with every identifier given; listing is a line of
// the new table's listing, sizes the partitions' sectors by number.
var partCases = []struct {
	name, script, listing string
	size                  int64
	sizes                 map[int]int
}{
	{"gpt", `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
size=10M, type=uefi, name=esp, uuid=11111111-2222-3333-4444-555555555555
size=1800K, type=S, uuid=21111111-2222-3333-4444-555555555555, attrs="RequiredPartition GUID:60"
type=L, uuid=41111111-2222-3333-4444-555555555555, name="root"
`, "vda2   22528  26623    4096   2M Linux swap\n", 64 << 20, map[int]int{1: 20480, 2: 4096, 3: 102400}},
	{"gpt table-length", `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
table-length: 8
start=1M, size=3M, type="Linux /usr (x86-64)", uuid=11111111-2222-3333-4444-555555555555
`, "vda1    2048  8191    6144   3M Linux /usr (x86-64)\n", 32 << 20, map[int]int{1: 6144}},
	{"dos", `label: dos
label-id: 0x12345678
,10M,L,*
,,E
,1000,S
,
`, "vda5        24576  25575    1000  500K 82 Linux swap / Solaris\n", 64 << 20, map[int]int{1: 20480, 2: 2, 5: 1000, 6: 102400}},
}

// TestPart: `lklimg part` through the kernel writes the bytes sfdisk
// writes for the same script on an image of the same size, --dump prints
// what sfdisk --dump prints, and the host kernel finds the partitions.
func TestPart(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	for _, c := range partCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			theirs, ours := filepath.Join(dir, "theirs.img"), filepath.Join(dir, "ours.img")
			if err := os.WriteFile(theirs, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(theirs, c.size); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", theirs)
			cmd.Stdin = strings.NewReader(c.script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			var out, errs bytes.Buffer
			o := partOptions{size: strconv.FormatInt(c.size, 10), memoryMB: 32}
			if err := part(ours, o, strings.NewReader(c.script), &out, &errs); err != nil {
				t.Fatalf("part: %v\n%s", err, errs.String())
			}
			if !strings.Contains(out.String(), c.listing) {
				t.Errorf("listing:\n%s", out.String())
			}
			a, _ := os.ReadFile(theirs)
			b, _ := os.ReadFile(ours)
			if !bytes.Equal(a, b) {
				t.Error("the image differs from sfdisk's")
			}
			var dump bytes.Buffer
			if err := partDump(ours, 32, &dump); err != nil {
				t.Fatal(err)
			}
			want := testutil.Run(t, sfdisk, "--dump", ours)
			if dump.String() != string(want) {
				t.Errorf("--dump:\n%s\nsfdisk --dump:\n%s", dump.String(), want)
			}
			hostPartitions(t, theirs, ours, c.sizes)
		})
	}
}

// hostPartitions attaches ours to a loop device with partition scanning
// (losetup -P) and checks the sizes the host kernel gives its partitions
// in /sys/block. theirs, sfdisk's image, is the control: a host kernel
// that finds no partition on it does not scan loop devices (this kind of
// test machine's does not), and there is nothing to check: the bytes
// compared with sfdisk's are the test then.
func hostPartitions(t *testing.T, theirs, ours string, sizes map[int]int) {
	t.Helper()
	testutil.Need(t, "losetup")
	testutil.NeedLoop(t)
	attach := func(img string) (string, func()) {
		loop := strings.TrimSpace(string(testutil.Run(t, "losetup", "-P", "-f", "--show", "-r", img)))
		return filepath.Base(loop), func() { exec.Command("losetup", "-d", loop).Run() }
	}
	size := func(loop string, n int) (string, error) {
		b, err := os.ReadFile(filepath.Join("/sys/block", loop, loop+"p"+strconv.Itoa(n), "size"))
		return strings.TrimSpace(string(b)), err
	}
	loop, detach := attach(theirs)
	_, err := size(loop, 1)
	detach()
	if err != nil {
		t.Logf("the host kernel shows no partition of sfdisk's image on a loop device (%v): not checked", err)
		return
	}
	loop, detach = attach(ours)
	defer detach()
	for n, want := range sizes {
		if got, err := size(loop, n); err != nil || got != strconv.Itoa(want) {
			t.Errorf("%sp%d: %q sectors, %v; want %d", loop, n, got, err, want)
		}
	}
}

// TestPartSeeded: --seed and SOURCE_DATE_EPOCH give the same bytes twice.
func TestPartSeeded(t *testing.T) {
	var imgs [][]byte
	for range 2 {
		img := filepath.Join(t.TempDir(), "d.img")
		o := partOptions{size: "16M", memoryMB: 32, seed: "01234567-89ab-cdef-0123-456789abcdef", quiet: true}
		if err := part(img, o, strings.NewReader("label: gpt\n,1M,U\n,\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(img)
		imgs = append(imgs, b)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Error("seeded runs differ")
	}
}

// TestPartIDs: SOURCE_DATE_EPOCH seeds the identifiers with the script,
// --seed alone; nothing set is random.
func TestPartIDs(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return v
			}
			return ""
		}
	}
	plan := func(ids func() (*fdisk.IDs, error)) string {
		t.Helper()
		s, _ := fdisk.Parse(strings.NewReader("label: gpt\n,\n"), nil)
		i, err := ids()
		if err != nil {
			t.Fatal(err)
		}
		tab, err := fdisk.Plan(s, 1<<17, i)
		if err != nil {
			t.Fatal(err)
		}
		return tab.DiskGUID.String() + tab.Partitions[0].UUID.String()
	}
	a := plan(func() (*fdisk.IDs, error) { return partIDs("", []byte("x"), env("1")) })
	b := plan(func() (*fdisk.IDs, error) { return partIDs("", []byte("x"), env("1")) })
	c := plan(func() (*fdisk.IDs, error) { return partIDs("", []byte("y"), env("1")) })
	d := plan(func() (*fdisk.IDs, error) { return partIDs("", []byte("x"), env("")) })
	e := plan(func() (*fdisk.IDs, error) {
		return partIDs("01234567-89ab-cdef-0123-456789abcdef", []byte("x"), env("1"))
	})
	f := plan(func() (*fdisk.IDs, error) {
		return partIDs("01234567-89AB-CDEF-0123-456789ABCDEF", []byte("y"), env(""))
	})
	if a != b || a == c || a == d || e != f || e == a {
		t.Errorf("identifiers: %s %s %s %s %s %s", a, b, c, d, e, f)
	}
	if _, err := partIDs("nope", nil, env("")); err == nil {
		t.Error("--seed nope accepted")
	}
}
