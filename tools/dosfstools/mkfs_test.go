package dosfstools

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

const mkfsTestVolID = 0x5eed1234

type mkfsCase struct {
	name string
	size int64
	args []string            // mkfs.fat's options
	edit func(p *MkfsParams) // the same for Mkfs
	want string              // the FAT type expected: "FAT12", "FAT16", "FAT32"
}

const (
	kib = int64(1) << 10
	mib = kib << 10
	gib = mib << 10
)

func mkfsCases() []mkfsCase {
	bits := func(n int) func(p *MkfsParams) { return func(p *MkfsParams) { p.FATBits = n } }
	return []mkfsCase{
		{name: "64K", size: 64 * kib, want: "FAT12"},
		{name: "160K", size: 160 * kib, want: "FAT12"},
		{name: "360K-floppy", size: 360 * kib, want: "FAT12"},
		{name: "720K-floppy", size: 720 * kib, want: "FAT12"},
		{name: "1200K-floppy", size: 1200 * kib, want: "FAT12"},
		{name: "1440K-floppy", size: 1440 * kib, want: "FAT12"},
		{name: "2880K-floppy", size: 2880 * kib, want: "FAT12"},
		{name: "256K-F32", size: 256 * kib, args: []string{"-F", "32"}, edit: bits(32), want: "FAT32"},
		{name: "8M-F32", size: 8 * mib, args: []string{"-F", "32"}, edit: bits(32), want: "FAT32"},
		{name: "3M", size: 3 * mib, want: "FAT12"},
		{name: "5M-odd", size: 5*mib + 1536, want: "FAT12"},
		{name: "16M", size: 16 * mib, want: "FAT16"},
		{name: "16M-F12", size: 16 * mib, args: []string{"-F", "12"}, edit: bits(12), want: "FAT12"},
		{name: "16M-label", size: 16 * mib, args: []string{"-n", "ESP"},
			edit: func(p *MkfsParams) { p.Label = "ESP" }, want: "FAT16"},
		{name: "16M-lower-label", size: 16 * mib, args: []string{"-n", "my disk"},
			edit: func(p *MkfsParams) { p.Label = "my disk" }, want: "FAT16"},
		{name: "16M-s1", size: 16 * mib, args: []string{"-s", "1"},
			edit: func(p *MkfsParams) { p.SecPerClus = 1 }, want: "FAT16"},
		{name: "16M-s16-r64-R8-f1", size: 16 * mib, args: []string{"-s", "16", "-r", "64", "-R", "8", "-f", "1"},
			edit: func(p *MkfsParams) { p.SecPerClus, p.RootEntries, p.Reserved, p.NumFATs = 16, 64, 8, 1 }, want: "FAT12"},
		{name: "16M-S4096", size: 16 * mib, args: []string{"-S", "4096"},
			edit: func(p *MkfsParams) { p.SectorSize = 4096 }, want: "FAT12"},
		{name: "16M-a-r100", size: 16 * mib, args: []string{"-a", "-r", "100"},
			edit: func(p *MkfsParams) { p.NoAlign, p.RootEntries = true, 100 }, want: "FAT16"},
		{name: "16M-h-M", size: 16 * mib, args: []string{"-h", "2048", "-M", "0xF0"},
			edit: func(p *MkfsParams) { p.Hidden, p.HiddenGiven, p.Media = 2048, true, 0xF0 }, want: "FAT16"},
		{name: "100M", size: 100 * mib, want: "FAT16"},
		{name: "100M-F32", size: 100 * mib, args: []string{"-F", "32"}, edit: bits(32), want: "FAT32"},
		{name: "100M-F32-R2", size: 100 * mib, args: []string{"-F", "32", "-R", "2"},
			edit: func(p *MkfsParams) { p.FATBits, p.Reserved = 32, 2 }, want: "FAT32"},
		{name: "100M-F32-R5", size: 100 * mib, args: []string{"-F", "32", "-R", "5", "-s", "1", "-a"},
			edit: func(p *MkfsParams) { p.FATBits, p.Reserved, p.SecPerClus, p.NoAlign = 32, 5, 1, true }, want: "FAT32"},
		{name: "300M", size: 300 * mib, want: "FAT16"},
		{name: "300M-F32-label", size: 300 * mib, args: []string{"-F", "32", "-n", "EFI SYSTEM"},
			edit: func(p *MkfsParams) { p.FATBits, p.Label = 32, "EFI SYSTEM" }, want: "FAT32"},
		{name: "200M-F12", size: 200 * mib, args: []string{"-F", "12"}, edit: bits(12), want: "FAT12"},
		{name: "511M", size: 511 * mib, want: "FAT16"},
		{name: "600M", size: 600 * mib, want: "FAT32"},
		{name: "600M-F16", size: 600 * mib, args: []string{"-F", "16"}, edit: bits(16), want: "FAT16"},
		{name: "600M-S4096", size: 600 * mib, args: []string{"-S", "4096", "-n", "BIG"},
			edit: func(p *MkfsParams) { p.SectorSize, p.Label = 4096, "BIG" }, want: "FAT32"},
		{name: "2G", size: 2 * gib, want: "FAT32"},
		{name: "2G-s64-f1", size: 2 * gib, args: []string{"-s", "64", "-f", "1"},
			edit: func(p *MkfsParams) { p.SecPerClus, p.NumFATs = 64, 1 }, want: "FAT32"},
		{name: "33G", size: 33 * gib, want: "FAT32"},
		{name: "33G-odd", size: 33*gib + 7*512, args: []string{"-n", "DATA"},
			edit: func(p *MkfsParams) { p.Label = "DATA" }, want: "FAT32"},
	}
}

// prefill makes path a sparse file of size bytes whose areas mkfs may
// write (its first bytes, up to a little past the root directory) and
// last 64 KiB hold random bytes, the same for the same seed: what either
// mkfs leaves unwritten is then seen.
func prefill(t testing.TB, path string, size, first int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 0))
	fill := func(off, n int64) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	first = min(first, size)
	fill(0, first)
	if tail := max(first, size-64*kib); tail < size {
		fill(tail, size-tail)
	}
}

// writtenEnd is where the area mkfs writes ends, from the plan.
func writtenEnd(t testing.TB, p MkfsParams) int64 {
	t.Helper()
	l, err := planMkfs(p)
	if err != nil {
		t.Fatal(err)
	}
	ss := int64(l.sectorSize)
	return int64(l.reserved)*ss + int64(l.boot.NumFATs)*int64(l.fatLength)*ss + int64(l.rootBytes)
}

// mkfsFile runs Mkfs on the file at path.
func mkfsFile(t testing.TB, path string, p MkfsParams) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = Mkfs(f, p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// diffSectors says how the file got differs from mkfs.fat's want: how
// many sectors, the first byte; "" if it does not.
func diffSectors(t testing.TB, want, got string) string {
	t.Helper()
	diff := testutil.DiffBlocks(t, want, got, 512)
	if len(diff) == 0 {
		return ""
	}
	wb, gb := testutil.ReadAt(t, want, diff[0]*512, 512), testutil.ReadAt(t, got, diff[0]*512, 512)
	j := 0
	for j < len(wb) && wb[j] == gb[j] {
		j++
	}
	return fmt.Sprintf("%d sectors differ from mkfs.fat's, the first %d at its byte %d: mkfs.fat %#02x, ours %#02x",
		len(diff), diff[0], j, wb[j], gb[j])
}

func testParams(c mkfsCase) MkfsParams {
	p := MkfsParams{Size: c.size, VolumeID: mkfsTestVolID, Time: InvariantTime}
	if c.edit != nil {
		c.edit(&p)
	}
	return p
}

// mkfsOracle runs mkfs.fat on path with the test's volume ID and
// --invariant's time (in UTC).
func mkfsOracle(t testing.TB, path string, args []string) []byte {
	t.Helper()
	all := append([]string{"--invariant", "-i", fmt.Sprintf("%08x", mkfsTestVolID)}, args...)
	cmd := exec.Command("mkfs.fat", append(all, path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.fat %v: %v\n%s", all, err, out)
	}
	return out
}

func TestMkfsMatchesMkfsFat(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "fsck.fat")
	dir := t.TempDir()
	for i, c := range mkfsCases() {
		t.Run(c.name, func(t *testing.T) {
			p := testParams(c)
			first := writtenEnd(t, p) + 64*kib
			want, got := filepath.Join(dir, c.name+".want"), filepath.Join(dir, c.name+".got")
			defer os.Remove(want)
			defer os.Remove(got)
			prefill(t, want, c.size, first, uint64(i))
			prefill(t, got, c.size, first, uint64(i))
			out := mkfsOracle(t, want, c.args)
			mkfsFile(t, got, p)
			if d := diffSectors(t, want, got); d != "" {
				t.Error(d)
			}
			sum, err := PlanMkfs(p)
			if err != nil {
				t.Fatal(err)
			}
			if typ := strings.TrimSpace(string(sum.Boot.FilSysType[:])); typ != c.want {
				t.Errorf("made %s, want %s", typ, c.want)
			}
			// mkfs.fat's warnings are ours.
			for _, w := range sum.Warnings {
				if !strings.Contains(string(out), strings.TrimPrefix(w, "mkfs.fat: ")) {
					t.Errorf("warning %q not in mkfs.fat's output:\n%s", w, out)
				}
			}
			// What we planned is what the boot sector says, and Linux
			// would mount it (but -a -r 100: a root directory not of
			// whole sectors, which mkfs.fat makes and Linux refuses).
			b, err := fat.DecodeBootSector(testutil.ReadAt(t, got, 0, 512))
			if err != nil {
				t.Fatal(err)
			}
			if *b != sum.Boot {
				t.Errorf("boot sector %+v, planned %+v", *b, sum.Boot)
			}
			if l, err := b.Check(); c.name != "16M-a-r100" && (err != nil || l.Clusters != sum.Clusters || l.Bits != sum.Bits) {
				t.Errorf("Check: %v %+v, planned %d clusters FAT%d", err, l, sum.Clusters, sum.Bits)
			}
			if c.name != "16M-a-r100" && (p.SectorSize == 0 || p.SectorSize == 512) {
				if out, err := exec.Command("fsck.fat", "-n", got).CombinedOutput(); err != nil {
					t.Errorf("fsck.fat -n: %v\n%s", err, out)
				}
			}
		})
	}
}

// TestMkfsLabelMtools: mtools lists the label mkfs.fat's way, from the
// root directory's entry.
func TestMkfsLabelMtools(t *testing.T) {
	testutil.Need(t, "mdir")
	img := filepath.Join(t.TempDir(), "esp.img")
	prefill(t, img, 64*mib, 0, 0)
	mkfsFile(t, img, MkfsParams{Size: 64 * mib, Label: "EFI", VolumeID: 0xABCD0123, Time: InvariantTime})
	cmd := exec.Command("mdir", "-i", img, "::/")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	for _, want := range []string{"Volume in drive : is EFI", "Volume Serial Number is ABCD-0123"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("mdir shows no %q:\n%s", want, out)
		}
	}
}

// TestMkfsErrors: what mkfs.fat refuses, we refuse in its words.
func TestMkfsErrors(t *testing.T) {
	testutil.Need(t, "mkfs.fat")
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		size int64
		args []string
		edit func(p *MkfsParams)
	}{
		{"too-small", 16 * kib, nil, nil},
		{"too-small-F32", 20 * kib, []string{"-F", "32"}, func(p *MkfsParams) { p.FATBits = 32 }},
		{"too-few-F16", 1440 * kib, []string{"-F", "16"}, func(p *MkfsParams) { p.FATBits = 16 }},
		{"too-many-F12", 300 * mib, []string{"-F", "12"}, func(p *MkfsParams) { p.FATBits = 12 }},
		{"too-many-F16", 5 * gib, []string{"-F", "16"}, func(p *MkfsParams) { p.FATBits = 16 }},
		{"s1-F16-big", 2 * gib, []string{"-F", "16", "-s", "1"}, func(p *MkfsParams) { p.FATBits, p.SecPerClus = 16, 1 }},
		{"bad-s", 16 * mib, []string{"-s", "3"}, func(p *MkfsParams) { p.SecPerClus = 3 }},
		{"label-long", 16 * mib, []string{"-n", "ABCDEFGHIJKL"}, func(p *MkfsParams) { p.Label = "ABCDEFGHIJKL" }},
		{"label-dot", 16 * mib, []string{"-n", "A.B"}, func(p *MkfsParams) { p.Label = "A.B" }},
		{"label-space", 16 * mib, []string{"-n", " AB"}, func(p *MkfsParams) { p.Label = " AB" }},
		{"label-utf8", 16 * mib, []string{"-n", "CAFÉ"}, func(p *MkfsParams) { p.Label = "CAFÉ" }},
		{"F32-R1", 100 * mib, []string{"-F", "32", "-R", "1"}, func(p *MkfsParams) { p.FATBits, p.Reserved = 32, 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name)
			prefill(t, img, c.size, 0, 0)
			defer os.Remove(img)
			out, err := exec.Command("mkfs.fat", append(c.args, img)...).CombinedOutput()
			if err == nil {
				t.Fatalf("mkfs.fat %v made it:\n%s", c.args, out)
			}
			p := MkfsParams{Size: c.size}
			if c.edit != nil {
				c.edit(&p)
			}
			_, perr := PlanMkfs(p)
			var e *abi.Error
			if !errors.As(perr, &e) || e.Errno != abi.EINVAL {
				t.Fatalf("PlanMkfs: %v, want EINVAL", perr)
			}
			// mkfs.fat's message, less its program name and our
			// number formatting of a bad option's value.
			msg := strings.TrimPrefix(e.Detail, "mkfs.fat: ")
			if i := strings.Index(msg, " : "); i >= 0 {
				msg = msg[:i]
			}
			if !strings.Contains(string(out), msg) {
				t.Errorf("ours %q, mkfs.fat's:\n%s", e.Detail, out)
			}
		})
	}
}

// TestMkfsRandomAsMkfsFat: random sizes (20 KiB to 40 GiB) and option
// sets, the same bytes as mkfs.fat's, or the same refusal.
func TestMkfsRandomAsMkfsFat(t *testing.T) {
	testutil.Need(t, "mkfs.fat")
	dir := t.TempDir()
	seed := uint64(15)
	if s := os.Getenv("MKFAT_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	pick := func(vals ...uint32) uint32 { return vals[r.IntN(len(vals))] }
	n := 60
	if s := os.Getenv("MKFAT_RANDOM"); s != "" {
		fmt.Sscan(s, &n)
	}
	made, big := 0, 0
	for i := range n {
		size := int64(20*kib) << r.IntN(21)
		size += r.Int64N(size) / 512 * 512
		if r.IntN(4) == 0 {
			size += r.Int64N(1024) // a size not of whole sectors
		}
		p := MkfsParams{Size: size, VolumeID: r.Uint32(), Time: InvariantTime}
		args := []string{"-i", fmt.Sprintf("%x", p.VolumeID)}
		if r.IntN(2) == 0 {
			p.FATBits = int(pick(12, 16, 32))
			args = append(args, "-F", fmt.Sprint(p.FATBits))
		}
		if r.IntN(4) == 0 {
			p.SectorSize = pick(512, 1024, 2048, 4096)
			args = append(args, "-S", fmt.Sprint(p.SectorSize))
		}
		if r.IntN(3) == 0 {
			p.SecPerClus = pick(1, 2, 4, 8, 16, 32, 64, 128)
			args = append(args, "-s", fmt.Sprint(p.SecPerClus))
		}
		if r.IntN(4) == 0 {
			p.Reserved = 1 + r.Uint32N(64)
			args = append(args, "-R", fmt.Sprint(p.Reserved))
		}
		if r.IntN(4) == 0 {
			p.RootEntries = 16 + r.Uint32N(2000)
			args = append(args, "-r", fmt.Sprint(p.RootEntries))
		}
		if r.IntN(4) == 0 {
			p.NumFATs = 1 + r.Uint32N(4)
			args = append(args, "-f", fmt.Sprint(p.NumFATs))
		}
		if r.IntN(5) == 0 {
			p.NoAlign = true
			args = append(args, "-a")
		}
		if r.IntN(6) == 0 {
			p.Heads, p.SecPerTrk = uint16(1+r.IntN(255)), uint16(1+r.IntN(63))
			args = append(args, "-g", fmt.Sprintf("%d/%d", p.Heads, p.SecPerTrk))
		}
		if r.IntN(6) == 0 {
			p.DriveNumber, p.DriveGiven = uint8(r.IntN(256)), true
			args = append(args, "-D", fmt.Sprint(p.DriveNumber))
		}
		if r.IntN(6) == 0 {
			p.BackupBoot, p.BackupGiven = uint16(r.IntN(40)), true
			args = append(args, "-b", fmt.Sprint(p.BackupBoot))
		}
		if r.IntN(3) == 0 {
			p.Label = []string{"A", "EFI SYSTEM", "boot", "X_1-2", "NO NAME", "ABCDEFGHIJK"}[r.IntN(6)]
			args = append(args, "-n", p.Label)
		}
		name := fmt.Sprintf("%d-%d", i, size)
		want, got := filepath.Join(dir, name+".want"), filepath.Join(dir, name+".got")
		_, perr := PlanMkfs(p)
		first := int64(0)
		if perr == nil {
			first = writtenEnd(t, p) + 64*kib
			if first > 32*mib {
				big++
				continue // the test stays fast: the big FATs are the fixed cases'
			}
		}
		prefill(t, want, size, first, uint64(i))
		prefill(t, got, size, first, uint64(i))
		cmd := exec.Command("mkfs.fat", append(append([]string{"--invariant"}, args...), want)...)
		out, err := cmd.CombinedOutput()
		switch {
		case perr != nil && err == nil:
			t.Errorf("%s %v: mkfs.fat made it, we refused: %v", name, args, perr)
		case perr != nil:
			msg := strings.TrimPrefix(errDetail(perr), "mkfs.fat: ")
			if !strings.Contains(string(out), msg) {
				t.Errorf("%s %v: ours %q, mkfs.fat's:\n%s", name, args, msg, out)
			}
		case err != nil:
			t.Errorf("%s %v: mkfs.fat refused, we did not:\n%s", name, args, out)
		default:
			mkfsFile(t, got, p)
			if d := diffSectors(t, want, got); d != "" {
				t.Errorf("%s %v: %s", name, args, d)
			}
			made++
		}
		os.Remove(want)
		os.Remove(got)
	}
	t.Logf("%d of %d made, %d left out (FATs over 32 MiB), the others refused by both", made, n, big)
}

func errDetail(err error) string {
	var e *abi.Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return err.Error()
}
