package isofs_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// TestReadMultiExtent reads a file of three extents (ISO 9660 level 3,
// ECMA-119 §6.5.1: consecutive records of one name, all but the last
// flagged multi-extent), out of order on the disc. xorriso writes
// extents of 4 GiB less a block only, so the image is made from one of
// xorriso's by rewriting a file's record as three and moving its blocks:
// the first section is the file's block 0, stored where block 3 was; the
// second blocks 1 and 2, in place; the third block 3 (a partial block),
// stored where block 0 was. Both xorriso and the kernel must read back
// the original file, the directory showing it once.
func TestReadMultiExtent(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3*2048+500)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for name, b := range map[string][]byte{"a.txt": []byte("before\n"), "multi.bin": data, "z.txt": []byte("after\n")} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := testutil.XorrisoImage(t, src, "-R")
	want := testutil.XorrisoView(t, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	recPos := splitRecord(t, b, "MULTI.BIN;1")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	o := testutil.CompareOptions{SkipPaths: []string{"."}, MtimeUnit: time.Second}
	for _, d := range testutil.Compare(want, testutil.XorrisoView(t, img), o) {
		t.Errorf("xorriso, before and after the split: %s", d)
	}
	got := kernelView(t, img, "")
	for _, d := range testutil.Compare(want, got, o) {
		t.Errorf("xorriso vs kernel: %s", d)
	}
	if e := got["multi.bin"]; e == nil || e.Size != int64(len(data)) {
		t.Errorf("multi.bin: %+v", e)
	}
	// Listed once, with the inode number of its first record, which
	// lookups give too; statfs as isofs_statfs.
	kerneltest.WithMount(t, img, "iso9660", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt", abi.O_RDONLY|abi.O_DIRECTORY, 0)
		must("open", err)
		buf := make([]byte, 8192)
		n, err := k.Getdents64(fd, buf)
		must("getdents64", err)
		must("close", k.Close(fd))
		var st abi.Stat
		must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/multi.bin", &st, 0))
		seen := 0
		for p := 0; p < n; {
			reclen := int(binary.LittleEndian.Uint16(buf[p+16:]))
			name := string(bytes.TrimRight(buf[p+19:p+reclen], "\x00"))
			if name == "multi.bin" {
				seen++
				if ino := binary.LittleEndian.Uint64(buf[p:]); ino != st.Ino {
					t.Errorf("readdir's inode %d, stat's %d", ino, st.Ino)
				}
			}
			p += reclen
		}
		if seen != 1 {
			t.Errorf("multi.bin listed %d times", seen)
		}
		// isofs_get_ino: the record's byte offset / 32.
		if st.Ino != uint64(recPos/32) {
			t.Errorf("inode %d, want %d (the record at %d)", st.Ino, recPos/32, recPos)
		}
		var sf abi.Statfs
		must("statfs", k.Statfs("/mnt", &sf))
		if sf.Type != 0x9660 || sf.Bsize != 2048 || sf.Blocks != uint64(len(b)/2048) || sf.Bfree != 0 || sf.Namelen != 255 {
			t.Errorf("statfs: %+v", sf)
		}
	})
}

// splitRecord rewrites the root's record named name (a file of four
// blocks) as three records, and swaps its first and last blocks.
func splitRecord(t *testing.T, img []byte, name string) (pos int64) {
	t.Helper()
	pvd, err := iso9660.DecodeVolumeDescriptor(img[16*2048 : 17*2048])
	if err != nil {
		t.Fatal(err)
	}
	dir := int(pvd.Root.Extent) * 2048
	for off := dir; off < dir+2048 && img[off] != 0; {
		rec, err := iso9660.DecodeDirRecord(img[off : dir+2048])
		if err != nil {
			t.Fatal(err)
		}
		n := int(rec.Len)
		if string(rec.Name) != name {
			off += n
			continue
		}
		used := off
		for used < dir+2048 && img[used] != 0 {
			used += int(img[used])
		}
		if used+2*n > dir+2048 {
			t.Fatalf("no room for two more records of %d bytes", n)
		}
		e, size := int(rec.Extent), int(rec.DataLength)
		if (size+2047)/2048 != 4 {
			t.Fatalf("%s: %d bytes, want four blocks", name, size)
		}
		// Blocks 0 and 3 swap places.
		b0, b3 := img[e*2048:(e+1)*2048], img[(e+3)*2048:(e+4)*2048]
		tmp := bytes.Clone(b0)
		copy(b0, b3)
		copy(b3, tmp)
		orig := bytes.Clone(img[off : off+n])
		section := func(extent, size int, last bool) []byte {
			r := bytes.Clone(orig)
			binary.LittleEndian.PutUint32(r[2:], uint32(extent))
			binary.BigEndian.PutUint32(r[6:], uint32(extent))
			binary.LittleEndian.PutUint32(r[10:], uint32(size))
			binary.BigEndian.PutUint32(r[14:], uint32(size))
			if !last {
				r[25] |= iso9660.FlagMultiExtent
			}
			return r
		}
		recs := append(append(section(e+3, 2048, false), section(e+1, 4096, false)...), section(e, size-3*2048, true)...)
		rest := bytes.Clone(img[off+n : used])
		copy(img[off:], recs)
		copy(img[off+len(recs):], rest)
		return int64(off)
	}
	t.Fatalf("no record %q in the root", name)
	return 0
}

// TestReadMultiExtentLarge reads what xorriso writes for a file past
// 4 GiB at ISO level 3: two extents, the first 4 GiB less a block. The
// file is sparse (data at its start, across the extents' boundary, at
// its end), the image is not: some 4.5 GiB written and read back, so
// the test is left out under -short and where the disk has no room.
func TestReadMultiExtentLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 4.5 GiB image")
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &fs); err != nil || int64(fs.Bavail)*fs.Bsize < 12<<30 {
		t.Skip("less than 12 GiB free for a 4.5 GiB image")
	}
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	big := filepath.Join(src, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	const size = 4608 << 20
	for _, w := range []struct {
		off  int64
		text string
	}{{0, "start"}, {4<<30 - 2048 - 3, "across the boundary"}, {size - 3, "end"}} {
		if _, err := f.WriteAt([]byte(w.text), w.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "small"), []byte("small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := testutil.XorrisoImage(t, src, "-R", "-iso-level", "3")
	want := testutil.MustScanDir(t, src)
	got := kernelView(t, img, "")
	for _, d := range testutil.Compare(want, got, testutil.CompareOptions{SkipPaths: []string{"."}, MtimeUnit: time.Second, HoleUnit: 1 << 40}) {
		t.Errorf("source vs kernel: %s", d)
	}
}
