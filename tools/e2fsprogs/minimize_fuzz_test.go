package e2fsprogs

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// memImage is an ImageDevice over a byte slice.
type memImage []byte

func (m memImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, io.ErrShortWrite
	}
	return copy(m[off:], p), nil
}

// FuzzMinimize damages a few bytes of the metadata of a small filesystem
// with files in it (mke2fs -d: 1 KiB blocks, 32 groups of 256 blocks,
// flex_bg, resize_inode; no checksums, so that damage reaches past the
// superblock and descriptors), then runs Minimize and
// AddJournal on it: whatever the damage, they return an error or finish,
// and never panic or loop.
func FuzzMinimize(f *testing.F) {
	img := fuzzMinimizeImage(f, "-g", "256", "-O", "^has_journal,^metadata_csum")
	f.Add(uint32(0), []byte(nil))
	f.Add(uint32(1024+0x65), []byte{0x02})         // ro_compat bigalloc, clusters of a block
	f.Add(uint32(1024+0x04), []byte{0xff, 0xff})   // s_blocks_count
	f.Add(uint32(1024+0x20), []byte{0, 1})         // s_blocks_per_group
	f.Add(uint32(1024+0xCE), []byte{0xff, 0x7f})   // s_reserved_gdt_blocks
	f.Add(uint32(1024+0x24C), []byte{7, 0, 0, 0})  // s_backup_bgs
	f.Add(uint32(2048), []byte{0xff, 0xff, 0, 0})  // group 0's block bitmap
	f.Add(uint32(2048+0x28), []byte{0x10, 0x20})   // group 1's inode table
	f.Add(uint32(7*1024+128*6+0x28), []byte{0x55}) // inode 7's i_block
	f.Fuzz(fuzzMinimizeRun(img))
}

// FuzzMinimizeBigalloc is FuzzMinimize on a bigalloc filesystem (4-block
// clusters, 8 groups of 1024 blocks).
func FuzzMinimizeBigalloc(f *testing.F) {
	img := fuzzMinimizeImage(f, "-C", "4096", "-g", "256", "-O", "^has_journal,^metadata_csum,bigalloc")
	f.Add(uint32(0), []byte(nil))
	f.Add(uint32(1024+0x1C), []byte{1})           // s_log_cluster_size
	f.Add(uint32(1024+0x24), []byte{0, 2})        // s_clusters_per_group
	f.Add(uint32(2048), []byte{0xff, 0xff, 0, 0}) // group 0's block bitmap
	f.Add(uint32(2048+0x0C), []byte{0xff, 0x7f})  // group 0's free count
	f.Fuzz(fuzzMinimizeRun(img))
}

// fuzzMinimizeRun is the fuzz function of FuzzMinimize over img.
func fuzzMinimizeRun(img []byte) func(t *testing.T, pos uint32, val []byte) {
	return func(t *testing.T, pos uint32, val []byte) {
		if len(val) > 64 {
			return
		}
		m := memImage(append([]byte(nil), img...))
		pos %= 64 << 10
		copy(m[pos:], val)
		n, err := Minimize(m, 1100)
		if err == nil && (n == 0 || n > uint64(len(m))/1024) {
			t.Fatalf("Minimize: %d blocks of %d", n, len(m)/1024)
		}
		jerr := AddJournal(m, 1024)
		if len(val) == 0 && (err != nil || n == uint64(len(m))/1024 || jerr != nil) {
			t.Fatalf("undamaged: Minimize %d, %v; AddJournal %v", n, err, jerr)
		}
	}
}

// fuzzMinimizeImage makes a fuzz target's image with mke2fs and args, or
// skips.
func fuzzMinimizeImage(f *testing.F, args ...string) []byte {
	if _, err := exec.LookPath("mke2fs"); err != nil {
		f.Skip("mke2fs not installed")
	}
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		f.Fatal(err)
	}
	for i, size := range []int{0, 100, 5000, 70000, 300000} {
		if err := os.WriteFile(filepath.Join(src, "d", string(rune('a'+i))), make([]byte, size), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	img := filepath.Join(dir, "img")
	a := append([]string{"-q", "-F", "-t", "ext4", "-b", "1024", "-N", "256", "-E", "root_owner=0:0", "-d", src}, args...)
	if out, err := exec.Command("mke2fs", append(a, img, "8M")...).CombinedOutput(); err != nil {
		f.Fatalf("mke2fs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
