package e2fsprogs

import (
	"io"

	disk "github.com/lklimg/lklimg/format/ext4"
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

// FuzzMinimizeMoves is FuzzMinimize on a filesystem whose data Minimize
// moves: 2048 inodes in 32 groups, whose inode tables flex_bg puts before
// the data, most of them cut and freed. The seeds damage the files'
// inodes (their extent trees).
func FuzzMinimizeMoves(f *testing.F) {
	img := fuzzMinimizeImage(f, "-g", "256", "-N", "2048", "-I", "256", "-O", "^has_journal,^metadata_csum")
	f.Add(uint32(0), []byte(nil))
	table := uint32(le.Uint32(img[2048+8:])) << 10 // group 0's bg_inode_table, 1 KiB blocks
	for ino := uint32(12); ino <= 17; ino++ {
		at := table + (ino-1)*256 + disk.OffIBlock
		f.Add(at, []byte{0xff, 0xff})            // the extent header's magic
		f.Add(at+6, []byte{3})                   // eh_depth
		f.Add(at+12+4, []byte{0xff, 0x7f})       // the first extent's ee_len
		f.Add(at+12+8, []byte{0x00, 0x00, 0x40}) // its ee_start
		f.Add(at+0x68-0x28, []byte{0x80})        // i_file_acl
	}
	f.Fuzz(func(t *testing.T, pos uint32, val []byte) {
		if len(val) > 64 {
			return
		}
		m := memImage(append([]byte(nil), img...))
		pos %= 128 << 10
		copy(m[pos:], val)
		n, err := Minimize(m, 0)
		if len(val) == 0 {
			// Undamaged, the data moves below the cut groups' tables.
			if err != nil || n >= 600 { // the data ends at block 674
				t.Fatalf("undamaged: Minimize %d, %v", n, err)
			}
		}
	})
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
		data := make([]byte, size) // not zeros, which mke2fs -d leaves as holes
		for j := range data {
			data[j] = byte(j%251 + 1)
		}
		if err := os.WriteFile(filepath.Join(src, "d", string(rune('a'+i))), data, 0o644); err != nil {
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
