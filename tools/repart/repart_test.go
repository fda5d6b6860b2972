package repart

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

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/fdisk"
)

// randomDefinitions writes 1 to 5 definitions with what the layout and
// identities depend on drawn at random, and returns the --size to ask
// ("auto" or bytes).
func randomDefinitions(t *testing.T, r *rand.Rand, dir string) string {
	types := []string{"esp", "linux-generic", "home", "swap", "root", "srv", "var", "tmp", "usr", "root-verity", "xbootldr", "esp"}
	sizes := []string{"4K", "5000", "1M", "1.5M", "10M", "20M", "3M 512K", "64M", "100M"}
	n := 1 + r.IntN(5)
	var total uint64
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "[Partition]\nType=%s\n", types[r.IntN(len(types))])
		var min uint64 = 10 << 20
		if r.IntN(2) == 0 {
			s := sizes[r.IntN(len(sizes))]
			fmt.Fprintf(&b, "SizeMinBytes=%s\n", s)
			v, _ := parseSize(s)
			min = max(v, 4096)
		}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, "SizeMaxBytes=%s\n", sizes[4+r.IntN(len(sizes)-4)])
		}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, "Weight=%d\n", r.IntN(3000))
		}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "PaddingWeight=%d\nPaddingMinBytes=%s\n", r.IntN(2000), sizes[r.IntN(3)])
		}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "Priority=%d\n", r.IntN(4)-1)
		}
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "Label=part %d ✓\n", i)
		case 1:
			fmt.Fprintf(&b, "UUID=%08x-1111-4222-8333-444455556666\n", r.Uint32())
		}
		switch r.IntN(6) {
		case 0:
			b.WriteString("NoAuto=yes\nReadOnly=yes\n")
		case 1:
			fmt.Fprintf(&b, "Flags=%#x\n", []uint64{1, 1 << 48, 1<<60 | 1<<62, 4}[r.IntN(4)])
		case 2:
			b.WriteString("GrowFileSystem=no\n")
		}
		total += min
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-p.conf", i*10)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r.IntN(2) == 0 {
		return "auto"
	}
	return strconv.FormatUint(total/2+uint64(r.IntN(int(total))), 10)
}

// ourImage plans the definitions and writes the table to a new file.
func ourImage(defs, img, size string, seed ID128) error {
	parts, err := Read([]string{defs}, "amd64", func(string) {})
	if err != nil {
		return err
	}
	var n uint64
	if size != "auto" {
		n, _ = strconv.ParseUint(size, 10, 64)
	}
	l, err := Plan(NewPlanned(parts), n, seed)
	if err != nil {
		return err
	}
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(l.Size)); err != nil {
		return err
	}
	return fdisk.Write(f, l.Table)
}

// ends returns the file's size and its first and last MiB (all a disk of
// unformatted partitions holds).
func ends(t *testing.T, img string) []byte {
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	n := min(len(b), 1<<20)
	return append([]byte(strconv.Itoa(len(b))), append(b[:n], b[len(b)-n:]...)...)
}

// TestLikeSystemdRepart: random definitions (LKLIMG_REPART_CASES, 30 by
// default; LKLIMG_REPART_SEED picks them) through systemd-repart 252
// --empty=create and through Plan and fdisk.Write: where systemd-repart
// makes a disk, ours has the same bytes (table, GUIDs, names,
// attributes, size); where it refuses, so do we.
func TestLikeSystemdRepart(t *testing.T) {
	testutil.Need(t, "systemd-repart")
	n, seed := 30, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("LKLIMG_REPART_CASES")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("LKLIMG_REPART_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range n {
		dir := t.TempDir()
		defs := filepath.Join(dir, "defs")
		os.Mkdir(defs, 0o755)
		size := randomDefinitions(t, r, defs)
		id := RandomID()
		theirs := filepath.Join(dir, "theirs.img")
		cmd := exec.Command("systemd-repart", "--empty=create", "--size="+size, "--seed="+id.String(),
			"--definitions="+defs, "--dry-run=no", "--no-pager", theirs)
		out, errA := cmd.CombinedOutput()
		ours := filepath.Join(dir, "ours.img")
		errB := ourImage(defs, ours, size, id)
		if ee, ok := errA.(*exec.ExitError); ok && ee.ProcessState.ExitCode() < 0 {
			// systemd-repart 252 crashes in some cases where it drops a
			// partition: nothing to compare.
			continue
		}
		if (errA == nil) != (errB == nil) {
			t.Errorf("case %d (--size=%s): systemd-repart: %v, ours: %v\n%s%s", i, size, errA, errB, dump(defs), out)
			continue
		}
		if errA != nil {
			continue
		}
		if !bytes.Equal(ends(t, theirs), ends(t, ours)) {
			a, _ := exec.Command("sfdisk", "--dump", theirs).CombinedOutput()
			b, _ := exec.Command("sfdisk", "--dump", ours).CombinedOutput()
			t.Errorf("case %d (--size=%s): the disks differ\n%s\nsystemd-repart's:\n%s\nours:\n%s", i, size, dump(defs), a, b)
		}
	}
}

// dump prints the definitions of a case.
func dump(dir string) string {
	var b strings.Builder
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "# %s\n%s", e.Name(), c)
	}
	return b.String()
}
