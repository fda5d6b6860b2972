package fdisk

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// sfdiskScripts are laid out by the real sfdisk and by Plan and Write on
// disks of the same size, with every identifier given so that the bytes
// can be compared.
var sfdiskScripts = []struct {
	name   string
	size   int64
	script string
	// random: the script cannot give every GUID (the positional form):
	// the dumps are compared with the random ones masked, not the bytes.
	random bool
}{
	{"gpt named", 64 << 20, `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
size=10M, type=U, name=esp, uuid=11111111-2222-3333-4444-555555555555
size=1800K, type=swap, uuid=21111111-2222-3333-4444-555555555555, attrs="RequiredPartition GUID:60"
start=30000, size=1M, type="Linux /usr (x86)", uuid=31111111-2222-3333-4444-555555555555, name="räksmörgås"
type=L, uuid=41111111-2222-3333-4444-555555555555, attrs="LegacyBIOSBootable GUID:52,53", name="0123456789012345678901234567890123456789"
`, false},
	{"gpt positional", 100 << 20, `label: gpt
label-id: 01234567-89ab-cdef-0123-456789abcdef
unit: sectors

- 1M U
5M 2M H
30000 ; 1500K ; R
,+,V
`, true},
	{"gpt last-lba first-lba table-length", 64 << 20, `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
first-lba: 100
last-lba: 102399
table-length: 8
disk3 : size=1.5M, uuid=11111111-2222-3333-4444-555555555555
size=010, uuid=21111111-2222-3333-4444-555555555555
size=0x800, uuid=31111111-2222-3333-4444-555555555555
size=10MB, uuid=41111111-2222-3333-4444-555555555555
start=80000, size=4k, uuid=51111111-2222-3333-4444-555555555555
uuid=61111111-2222-3333-4444-555555555555
`, false},
	{"gpt gap before", 64 << 20, `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
start=80000,size=1M, uuid=11111111-2222-3333-4444-555555555555
size=10M, uuid=21111111-2222-3333-4444-555555555555
size=+, uuid=31111111-2222-3333-4444-555555555555
uuid=41111111-2222-3333-4444-555555555555
`, false},
	{"gpt small disk", 4 << 20, `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
size=1M, uuid=11111111-2222-3333-4444-555555555555
uuid=21111111-2222-3333-4444-555555555555
`, false},
	{"gpt just over 4 MiB", 8193 * 512, `label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
uuid=21111111-2222-3333-4444-555555555555
`, false},
	{"dos positional", 64 << 20, `label: dos
label-id: 0x12345678
,10M,L,*
,2M
,30M,E
,5M
,3M,S
,
`, false},
	{"dos logical", 64 << 20, `label: dos
label-id: 0xdeadbeef
,10M
,,Ex
,1000
,3M,82
,1M,uefi
,
`, false},
	{"dos named", 64 << 20, `label: dos
label-id: 1234abcd
start=80000, size=1M, type=0E, bootable
size=10M, type=lvm
type=Ex
start=90000, size=2M
start=40000, size=1000
`, false},
	{"dos extended first", 64 << 20, `label: dos
label-id: 0x0000cafe
,10M,E
,5M
,5M
,2M
,
`, false},
	{"dos empty extended", 64 << 20, `label: dos
label-id: 0x0000cafe
,10M,X
,5M,c
`, false},
	{"dos small disk", 4 << 20, `label: dos
label-id: 0x0000cafe
,1M
,,E
,1000
,
`, false},
	{"dos big disk", 20 << 30, `label: dos
label-id: 0x0000cafe
,9G
,,E
,1G
,
`, false},
}

// sfdiskRun runs sfdisk on a new sparse image of size bytes at
// dir/disk.img, from dir so that its messages and dump name "disk.img".
func sfdiskRun(t *testing.T, dir string, size int64, stdin string, args ...string) (string, error) {
	t.Helper()
	sfdisk := testutil.Need(t, "sfdisk")[0]
	cmd := exec.Command(sfdisk, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func newImage(t *testing.T, size int64) (string, *os.File) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return dir, f
}

// ours writes script on f as lklimg part does, without the kernel.
func ours(t *testing.T, f *os.File, size int64, script string, ids *IDs) error {
	s, err := Parse(strings.NewReader(script), nil)
	if err != nil {
		return err
	}
	tab, err := Plan(s, uint64(size)/SectorSize, ids)
	if err != nil {
		return err
	}
	return Write(f, tab)
}

// ends returns the first and last MiB of the image (or all of it).
func ends(t *testing.T, f *os.File, size int64) []byte {
	n := min(size, 1<<20)
	b := make([]byte, 2*n)
	if _, err := f.ReadAt(b[:n], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(b[n:], size-n); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLikeSfdisk: the same script through sfdisk and through Plan and
// Write gives the same first and last MiB, the same sfdisk --dump, and
// sfdisk --verify finds nothing wrong with ours.
func TestLikeSfdisk(t *testing.T) {
	for _, c := range sfdiskScripts {
		t.Run(c.name, func(t *testing.T) {
			dirA, fa := newImage(t, c.size)
			if out, err := sfdiskRun(t, dirA, c.size, c.script, "-q", "--no-reread", "--no-tell-kernel", "disk.img"); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			dirB, fb := newImage(t, c.size)
			if err := ours(t, fb, c.size, c.script, RandomIDs()); err != nil {
				t.Fatal(err)
			}
			dumpA, _ := sfdiskRun(t, dirA, 0, "", "--dump", "disk.img")
			dumpB, err := sfdiskRun(t, dirB, 0, "", "--dump", "disk.img")
			if c.random {
				dumpA, dumpB = maskIDs(dumpA), maskIDs(dumpB)
			}
			if err != nil || dumpA != dumpB {
				t.Errorf("sfdisk --dump of ours (%v):\n%s\nof sfdisk's:\n%s", err, dumpB, dumpA)
			}
			if out, err := sfdiskRun(t, dirB, 0, "", "--verify", "disk.img"); err != nil || !strings.Contains(out, "No errors detected") {
				t.Errorf("sfdisk --verify: %v\n%s", err, out)
			}
			if strings.HasPrefix(c.script, "label: gpt") {
				sgdiskVerify(t, dirB)
			}
			a, b := ends(t, fa, c.size), ends(t, fb, c.size)
			if !c.random && !bytes.Equal(a, b) {
				for i := range a {
					if a[i] != b[i] {
						t.Errorf("first difference at byte %d of the ends: sfdisk %#02x, ours %#02x", i, a[i], b[i])
						break
					}
				}
			}
		})
	}
}

// sgdiskVerify runs gdisk's own checks (sgdisk -v) on the GPT disk.img
// in dir: headers, CRCs, the backup, overlaps, the protective MBR.
func sgdiskVerify(t *testing.T, dir string) {
	t.Helper()
	sgdisk := testutil.Need(t, "sgdisk")[0]
	cmd := exec.Command(sgdisk, "-v", "disk.img")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
}

// maskIDs replaces the identifiers in an sfdisk --dump by X.
func maskIDs(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "label-id:") {
			l = "label-id: X"
		}
		if i := strings.Index(l, "uuid="); i >= 0 {
			l = l[:i] + "uuid=X" + l[i+len("uuid=")+36:]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestRandomIDsLikeSfdisk: without identifiers, the dumps agree once the
// random ones are masked.
func TestRandomIDsLikeSfdisk(t *testing.T) {
	for _, script := range []string{"label: gpt\n,10M,U\n,+\n", "label: dos\n,10M,L,*\n,,E\n,\n"} {
		dirA, _ := newImage(t, 64<<20)
		if out, err := sfdiskRun(t, dirA, 0, script, "-q", "--no-reread", "--no-tell-kernel", "disk.img"); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
		dirB, fb := newImage(t, 64<<20)
		if err := ours(t, fb, 64<<20, script, RandomIDs()); err != nil {
			t.Fatal(err)
		}
		dumpA, _ := sfdiskRun(t, dirA, 0, "", "--dump", "disk.img")
		dumpB, _ := sfdiskRun(t, dirB, 0, "", "--dump", "disk.img")
		if maskIDs(dumpA) != maskIDs(dumpB) {
			t.Errorf("ours:\n%s\nsfdisk's:\n%s", dumpB, dumpA)
		}
	}
}

// TestSeeded: a seed gives the same bytes twice, another seed others.
func TestSeeded(t *testing.T) {
	script := "label: gpt\n,10M,U\n,+\n"
	var got [3][]byte
	for i, seed := range []string{"a", "a", "b"} {
		_, f := newImage(t, 64<<20)
		if err := ours(t, f, 64<<20, script, SeededIDs([]byte(seed))); err != nil {
			t.Fatal(err)
		}
		got[i] = ends(t, f, 64<<20)
	}
	if !bytes.Equal(got[0], got[1]) || bytes.Equal(got[0], got[2]) {
		t.Error("seeded identifiers are not reproducible, or ignore the seed")
	}
}

// TestErrors: scripts sfdisk refuses are refused, naming the line.
func TestErrors(t *testing.T) {
	for _, c := range []struct{ script, want string }{
		{"label: gpt\nstart=2048,size=4096\nstart=4000,size=100\n", "line 3: partition 2: sector 4000 already used"},
		{"label: gpt\nstart=130000,size=2000\n", "line 2: partition 1: the last usable GPT sector is 131038, but 131999 is requested"},
		{"label: gpt\n,\n,1M\n", "line 3: partition 2: no free range of at least 2048 sectors"},
		{"label: gpt\ntype=esp\n", `line 2: partition 1: unknown GPT partition type "esp"`},
		{"label: dos\ntype=bogus\n", `line 2: unknown MBR partition type "bogus"`},
		{"label: gpt\ntype=E\n", `unknown GPT partition type "E"`},
		{"label: dos\nsize=100G\n", "no free sectors available"},
		{"label: dos\n,1M\n,1M\n,1M\n,1M\n,1M\n", "line 6: all four primary partitions are in use"},
		{"label: dos\nunit: bytes\n", "line 2: unit"},
		{"label: gpt\nfirst-lba: 10\n", "first-lba 10 is outside"},
	} {
		_, f := newImage(t, 64<<20)
		err := ours(t, f, 64<<20, c.script, RandomIDs())
		var se *Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.script, err, c.want)
		}
	}
}

// TestRelabel: a DOS table written over a GPT leaves the old headers as
// sfdisk does, their signatures wiped.
func TestRelabel(t *testing.T) {
	const size = 64 << 20
	var imgs [2]*os.File
	for i := range imgs {
		dir, f := newImage(t, size)
		if out, err := sfdiskRun(t, dir, 0, "label: gpt\nlabel-id: 01234567-89AB-CDEF-0123-456789ABCDEF\nsize=10M, uuid=11111111-2222-3333-4444-555555555555\nuuid=21111111-2222-3333-4444-555555555555\n", "-q", "--no-reread", "--no-tell-kernel", "disk.img"); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
		imgs[i] = f
	}
	dir := filepath.Dir(imgs[0].Name())
	script := "label: dos\nlabel-id: 0x11112222\n,10M\n"
	if out, err := sfdiskRun(t, dir, 0, script, "-q", "--no-reread", "--no-tell-kernel", "disk.img"); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	if err := ours(t, imgs[1], size, script, RandomIDs()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ends(t, imgs[0], size), ends(t, imgs[1], size)) {
		t.Error("the relabelled disk differs from sfdisk's")
	}
}

// FuzzParse: no script makes Parse or Plan panic, and a plan keeps its
// partitions on the disk and apart.
func FuzzParse(f *testing.F) {
	for _, c := range sfdiskScripts {
		f.Add(c.script)
	}
	f.Fuzz(func(t *testing.T, script string) {
		s, err := Parse(strings.NewReader(script), nil)
		if err != nil {
			return
		}
		tab, err := Plan(s, 1<<17, SeededIDs(nil))
		if err != nil {
			return
		}
		for i, p := range tab.Partitions {
			if p.Sectors == 0 || p.End() >= tab.Sectors {
				t.Fatalf("partition %d: %d+%d on %d sectors", p.Number, p.Start, p.Sectors, tab.Sectors)
			}
			for _, q := range tab.Partitions[i+1:] {
				if !p.Extended && !q.Extended && p.Start <= q.End() && q.Start <= p.End() {
					t.Fatalf("partitions %d and %d overlap", p.Number, q.Number)
				}
			}
		}
	})
}
