//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// The GPT disk of the partition tests: 64 MiB, partition 1 of 8 MiB at
// 1 MiB, partition 2 of 40 MiB at 11 MiB (an odd MiB).
const (
	gptDiskSize = 64 << 20
	gptP2Start  = 11 << 20
	gptP2Size   = 40 << 20
)

// gptDisk makes the disk with sfdisk and fills partition 1 with random
// bytes, so that a stray write there shows.
func gptDisk(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "gpt.img")
	testutil.Run(t, "truncate", "-s", "64M", img)
	testutil.Sfdisk(t, img, "label: gpt\nstart=2048, size=16384\nstart=22528, size=81920\n")
	junk := make([]byte, 8<<20)
	rand.Read(junk)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(junk, 1<<20); err != nil {
		t.Fatal(err)
	}
	return img
}

// outsideP2 hashes the disk's bytes before and after partition 2 (the
// protective MBR, the GPT and its backup, partition 1).
func outsideP2(t *testing.T, img string) [2][32]byte {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != gptDiskSize {
		t.Fatalf("%s: %d bytes, want %d", img, len(data), gptDiskSize)
	}
	return [2][32]byte{sha256.Sum256(data[:gptP2Start]), sha256.Sum256(data[gptP2Start+gptP2Size:])}
}

// partition2 copies partition 2 of img into a file of its own.
func partition2(t *testing.T, img string) string {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "p2.img")
	if err := os.WriteFile(out, data[gptP2Start:gptP2Start+gptP2Size], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMkfsPartition: mkfs -P 2 makes on partition 2 of a GPT disk the
// bytes mke2fs makes on a file of the partition's size, and writes
// nothing outside the partition; e2fsck finds nothing.
func TestMkfsPartition(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	img := gptDisk(t)
	before := outsideP2(t, img)
	const uuid, seed = "0a0b0c0d-1111-4222-8333-444455556666", "99998888-7777-4666-9555-444433332222"
	opts := []string{"-U", uuid, "-E", "hash_seed=" + seed + ",root_owner=0:0"}
	r := lklimgMkfs(t, []string{"SOURCE_DATE_EPOCH=1600000000"}, append(append([]string{"-q", "-t", "ext4", "-P", "2"}, opts...), img)...)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("lklimg mkfs -P 2: %+v", r)
	}
	if after := outsideP2(t, img); after != before {
		t.Errorf("mkfs -P 2 wrote outside partition 2")
	}
	ours := partition2(t, img)
	testutil.E2fsckClean(t, ours)
	ref := filepath.Join(t.TempDir(), "ref.img")
	testutil.Run(t, "truncate", "-s", "40M", ref)
	cmd := exec.Command("mke2fs", append(append([]string{"-q", "-F", "-t", "ext4"}, opts...), ref)...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000", "MKE2FS_CONFIG=/etc/mke2fs.conf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	if !testutil.SameFiles(t, ours, ref) {
		t.Errorf("partition 2 differs from mke2fs's image of its size")
	}

	// A filesystem is there now: kept without -F.
	if r := lklimgMkfs(t, nil, "-q", "-P", "2", img); r.code != exitImage || !strings.Contains(r.stderr, "use -F") {
		t.Errorf("mkfs -P 2 over a filesystem: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-q", "-F", "-P", "3", img}, "-P 3: no such partition (the disk has partitions 1 and 2)"},
		{[]string{"-q", "-F", "-P", "2", "-s", "41M", img}, "Filesystem larger than apparent device size"},
	} {
		if r := lklimgMkfs(t, nil, c.args...); r.code != exitImage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("mkfs %v: %+v; want status 2 and %q", c.args, r, c.want)
		}
	}
	if after := outsideP2(t, img); after != before {
		t.Errorf("a refused mkfs wrote outside partition 2")
	}
	if !testutil.SameFiles(t, partition2(t, img), ref) {
		t.Errorf("a refused mkfs changed partition 2")
	}

	plain := filepath.Join(t.TempDir(), "plain.img")
	testutil.Run(t, "truncate", "-s", "8M", plain)
	if r := lklimgMkfs(t, nil, "-q", "-P", "1", plain); r.code != exitImage || !strings.Contains(r.stderr, "-P 1: the disk has no partition table") {
		t.Errorf("mkfs -P 1 on a disk without a table: %+v", r)
	}
}

// TestTar2fsPartition: tar2fs -P 2 fills partition 2 of a GPT disk with
// the archive's tree, as e2fsck and the host kernel see it, and writes
// nothing outside it; cptofs -P 2 then copies a file into it.
func TestTar2fsPartition(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	img := gptDisk(t)
	before := outsideP2(t, img)
	if r := lklimg(t, nil, nil, "tar2fs", "-q", "-P", "2", archive, img); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs -P 2: %+v", r)
	}
	if after := outsideP2(t, img); after != before {
		t.Errorf("tar2fs -P 2 wrote outside partition 2")
	}
	p2 := partition2(t, img)
	testutil.ExpectSame(t, "source vs partition 2", want, testutil.FsckView(t, p2), testutil.TreeArchiveOptions())
	// The filesystem fills the partition.
	if out := testutil.Run(t, "dumpe2fs", "-h", p2); !bytes.Contains(out, []byte("Block count:              40960\n")) {
		t.Errorf("partition 2's filesystem is not 40 MiB (40960 blocks of 1 KiB, mke2fs's small type):\n%s", out)
	}
	// cptofs -P 2 copies into the same partition, and nowhere else.
	host := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(host, []byte("hello, partition 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := lklimg(t, nil, nil, "cp-in", "-P", "2", "-i", img, host, "/"); r.code != 0 || r.stderr != "" {
		t.Fatalf("cp-in -P 2: %+v", r)
	}
	if after := outsideP2(t, img); after != before {
		t.Errorf("cp-in -P 2 wrote outside partition 2")
	}
	p2 = partition2(t, img)
	testutil.E2fsckClean(t, p2)
	if out, err := exec.Command("debugfs", "-R", "cat /hello", p2).Output(); err != nil || string(out) != "hello, partition 2\n" {
		t.Errorf("cp-in -P 2: /hello holds %q (%v)", out, err)
	}

	if r := lklimg(t, nil, nil, "tar2fs", "-q", "-P", "2", "--free", "1M", archive, img); r.code != exitImage || !strings.Contains(r.stderr, "--free is for the smallest image") {
		t.Errorf("tar2fs -P 2 --free: %+v", r)
	}
}
