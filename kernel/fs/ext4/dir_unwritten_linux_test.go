package ext4

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestDirUnwrittenExtent: a directory whose extent is flagged unwritten
// (no tool makes one; a damaged image has it, as e2fsprogs' f_uninit_dir)
// is read from its blocks as Linux reads it (ext4_bread maps the block
// whatever the flag), not as a hole: the host kernel lists its names, and
// so must we, where we listed none, silently.
func TestDirUnwrittenExtent(t *testing.T) {
	testutil.Need(t, "debugfs")
	img := mkfsTree(t, "8M", nil, func(dir string) {
		for i := range 40 {
			mustWrite(t, filepath.Join(dir, "d", fmt.Sprintf("name-%02d", i)), "x")
		}
	})
	// i_block[4] holds the first extent's ee_len (low 16 bits): its top
	// bit flags the extent unwritten.
	out := string(testutil.Run(t, "debugfs", "-R", "stat d", img))
	if !strings.Contains(out, "EXTENTS:") {
		t.Fatalf("d has no extents:\n%s", out)
	}
	var b []byte // i_block's bytes, from the hex dump's lines ("0000  0af3 0100 ...  ....")
	for _, l := range strings.Split(string(testutil.Run(t, "debugfs", "-R", "inode_dump -b d", img)), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || len(f[0]) != 4 {
			continue
		}
		for _, g := range f[1:9] {
			v, err := strconv.ParseUint(g, 16, 16)
			if err != nil {
				t.Fatalf("inode_dump -b: %q: %v", l, err)
			}
			b = append(b, byte(v>>8), byte(v))
		}
	}
	if len(b) < 20 || b[0] != 0x0a || b[1] != 0xf3 {
		t.Fatalf("i_block does not start with an extent header: % x", b)
	}
	w4 := uint64(b[16]) | uint64(b[17])<<8 | uint64(b[18])<<16 | uint64(b[19])<<24
	testutil.Run(t, "debugfs", "-w", "-R", fmt.Sprintf("sif d block[4] %#x", w4|0x8000), img)
	if out := string(testutil.Run(t, "debugfs", "-R", "ex d", img)); !strings.Contains(out, "Uninit") {
		t.Fatalf("the extent is not flagged unwritten:\n%s", out)
	}

	mnt, umount := testutil.HostMount(t, img, "ro")
	want := testutil.MustScanDir(t, filepath.Join(mnt, "d"))
	umount()
	sb, _ := mountImage(t, img)
	d, err := lookupPath(sb, "/d")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := readDirAll(d)
	if err != nil {
		t.Fatal(err)
	}
	var got, host []string
	for _, e := range ents {
		got = append(got, e.Name)
	}
	for p := range want {
		if p != "." {
			host = append(host, p)
		}
	}
	slices.Sort(got)
	slices.Sort(host)
	if len(host) != 40 || !slices.Equal(got, host) {
		t.Errorf("names in d: ours %d %q, the host's %d %q", len(got), got, len(host), host)
	}
}
