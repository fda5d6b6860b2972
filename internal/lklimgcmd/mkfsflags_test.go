package lklimgcmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

func TestParseUUID(t *testing.T) {
	u, err := parseUUID("01234567-89ab-cdef-0123-456789abcdef")
	if err != nil || u[0] != 0x01 || u[15] != 0xef {
		t.Errorf("parseUUID: %x %v", u, err)
	}
	if _, err := parseUUID("0123456789abcdef0123456789abcdef"); err == nil {
		t.Error("parseUUID took a UUID without dashes")
	}
}

// TestDerivedIdentity: a derived UUID depends on the purpose, what else
// shapes the image, every parameter (the time among them) and the
// input's digest; it is a version 4 UUID.
func TestDerivedIdentity(t *testing.T) {
	p := e2fsprogs.MkfsParams{Time: 1700000000}
	a := deriveUUID("uuid", "tar2fs", &p, []byte("x"))
	if a != deriveUUID("uuid", "tar2fs", &p, []byte("x")) {
		t.Error("not deterministic")
	}
	if a == deriveUUID("uuid", "tar2fs", &p, []byte("y")) || a == deriveUUID("hash_seed", "tar2fs", &p, []byte("x")) {
		t.Error("the input or the purpose changes nothing")
	}
	if a == deriveUUID("uuid", "mkfs", &p, []byte("x")) {
		t.Error("the command changes nothing")
	}
	p.Time++
	if a == deriveUUID("uuid", "tar2fs", &p, []byte("x")) {
		t.Error("the time changes nothing")
	}
	p.Time--
	p.Label = "x"
	if a == deriveUUID("uuid", "tar2fs", &p, []byte("x")) {
		t.Error("the label changes nothing")
	}
	p.Label = ""
	if a != deriveUUID("uuid", "tar2fs", &p, []byte("x")) {
		t.Error("not deterministic after the changes are undone")
	}
	if a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Errorf("%x is not a version 4 UUID", a)
	}
}

// TestIdentity: the UUID and the hash seed are random unless the time is
// fixed (SOURCE_DATE_EPOCH, --timestamp); then what the flags do not give
// is derived, from the input file's bytes among the rest, and the input
// is left at its start.
func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	in1, in2 := filepath.Join(dir, "1.tar"), filepath.Join(dir, "2.tar")
	os.WriteFile(in1, []byte("one"), 0o644)
	os.WriteFile(in2, []byte("two"), 0o644)
	epoch := int64(1700000000)
	const givenText = "01234567-89ab-cdef-0123-456789abcdef"
	given, _ := parseUUID(givenText)
	run := func(f fsFlags, withEpoch bool, input string) ([16]byte, [16]byte) {
		t.Helper()
		f.fsType = "ext4"
		var e *int64
		if withEpoch {
			e = &epoch
		}
		p, g, err := mkfsParams(&f, 64<<20, e)
		if err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(input)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		if err := identity(&p, g, e, "test", fileDigest(in, input)); err != nil {
			t.Fatal(err)
		}
		if pos, _ := in.Seek(0, io.SeekCurrent); pos != 0 {
			t.Errorf("the input is left at %d, not at its start", pos)
		}
		return p.UUID, p.HashSeed
	}
	var none [16]byte
	u1, s1 := run(fsFlags{}, false, in1)
	u2, s2 := run(fsFlags{}, false, in1)
	if u1 == u2 || s1 == s2 || u1 == s1 {
		t.Errorf("not reproducible, yet the same identity: %x %x %x %x", u1, u2, s1, s2)
	}
	u1, s1 = run(fsFlags{}, true, in1)
	u2, s2 = run(fsFlags{}, true, in1)
	u3, s3 := run(fsFlags{}, true, in2)
	if u1 != u2 || s1 != s2 || u1 == u3 || s1 == s3 || u1 == s1 {
		t.Errorf("SOURCE_DATE_EPOCH: %x %x %x / %x %x %x", u1, u2, u3, s1, s2, s3)
	}
	u1, s1 = run(fsFlags{uuid: givenText}, true, in1)
	_, s2 = run(fsFlags{uuid: givenText}, true, in1)
	_, s3 = run(fsFlags{}, true, in1)
	if u1 != given || s1 != s2 || s1 == s3 {
		t.Errorf("-U: %x, seeds %x %x %x (the UUID is one of the seed's inputs)", u1, s1, s2, s3)
	}
	u1, s1 = run(fsFlags{ext: "hash_seed=" + givenText}, true, in1)
	u2, _ = run(fsFlags{ext: "hash_seed=" + givenText}, true, in1)
	if s1 != given || u1 != u2 {
		t.Errorf("hash_seed: %x, UUIDs %x %x", s1, u1, u2)
	}
	u1, _ = run(fsFlags{uuid: "random"}, true, in1)
	u2, _ = run(fsFlags{uuid: "random"}, true, in1)
	if u1 == u2 {
		t.Errorf("-U random: %x twice", u1)
	}
	if u, _ := run(fsFlags{uuid: "clear"}, false, in1); u != none {
		t.Errorf("-U clear: %x", u)
	}
}

// TestOverheadBlocks: for a whole filesystem, e2fsprogs.OverheadBlocks (which
// tar2fs sizes the journal of the smallest image with) is the
// s_overhead_clusters Mkfs writes, the metadata e2fsck counts; for the
// first groups of the large file tar2fs fills, it grows with the groups.
func TestOverheadBlocks(t *testing.T) {
	dumpe2fs := testutil.Need(t, "dumpe2fs")[0]
	for _, c := range []struct {
		size int64
		opts fsFlags
	}{
		{64 << 20, fsFlags{fsType: "ext4", features: "^has_journal"}},
		{300 << 20, fsFlags{fsType: "ext2", blockSize: 1024}},
		{2 << 30, fsFlags{fsType: "ext4", features: "^has_journal,^flex_bg"}},
		{1 << 30, fsFlags{fsType: "ext4", features: "^has_journal,^resize_inode,meta_bg"}},
		// bigalloc: s_overhead_clusters in clusters, the bitmaps of
		// a flex group sharing clusters.
		{4 << 30, fsFlags{fsType: "ext4", features: "^has_journal,bigalloc"}},
		{1 << 30, fsFlags{fsType: "ext4", features: "^has_journal,bigalloc", cluster: "16K"}},
		{512 << 20, fsFlags{fsType: "ext4", features: "^has_journal,bigalloc", cluster: "16K", blockSize: 1024}},
	} {
		c.opts.reserved = -1
		p, g, err := mkfsParams(&c.opts, c.size, nil)
		if err == nil {
			err = identity(&p, g, nil, "test", nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(t.TempDir(), "img")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(c.size)
		p.Zeroed = true
		err = e2fsprogs.Mkfs(f, p)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := string(testutil.Run(t, dumpe2fs, "-h", img))
		_, v, _ := strings.Cut(out, "Overhead clusters:")
		v, _, _ = strings.Cut(v, "\n")
		got, err := e2fsprogs.OverheadBlocks(p, p.Blocks)
		got /= uint64(p.ClusterBytes() / p.BlockSize)
		if err != nil || fmt.Sprint(got) != strings.TrimSpace(v) {
			t.Errorf("%d %+v: OverheadBlocks %d clusters (%v), s_overhead_clusters %q", c.size, c.opts, got, err, strings.TrimSpace(v))
		}
	}
	p, g, err := mkfsParams(&fsFlags{fsType: "ext4", reserved: -1}, tar2fsVirtualSize, nil)
	if err == nil {
		err = identity(&p, g, nil, "test", nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	one, err1 := e2fsprogs.OverheadBlocks(p, 1000)
	two, err2 := e2fsprogs.OverheadBlocks(p, 40000)
	if err1 != nil || err2 != nil || one == 0 || two <= one {
		t.Errorf("1 TiB's first group: %d, two groups: %d (%v %v)", one, two, err1, err2)
	}
	t.Logf("two OverheadBlocks on 1 TiB: %v", time.Since(start))
}
