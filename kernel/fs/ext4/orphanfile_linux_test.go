package ext4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// orphanFileVariants are mke2fs layouts with an orphan file: checksummed
// with a seed of its own, a one-block file that overflows to the list
// (254 entries with 1 KiB blocks), and no checksums.
var orphanFileVariants = []nameiVariant{
	{"seed", []string{"-O", "orphan_file,metadata_csum_seed"}},
	{"1k-one-block", []string{"-b", "1024", "-O", "orphan_file", "-E", "orphan_file_size=1"}},
	{"nocsum", []string{"-O", "orphan_file,^metadata_csum"}},
}

// TestOrphanFile unlinks 300 files while they are held: their numbers go
// to the orphan file (the list takes those it has no room for), as debugfs
// reads them from the image. A copy of the image at that point, as a crash
// leaves it, fails e2fsck until a read-write mount of ours deletes the
// orphans; the original, once the files are evicted and it is unmounted,
// has an empty orphan file, no orphan_present and is e2fsck clean.
func TestOrphanFile(t *testing.T) {
	for _, v := range orphanFileVariants {
		t.Run(v.name, func(t *testing.T) { testOrphanFile(t, v) })
	}
}

func testOrphanFile(t *testing.T, v nameiVariant) {
	const n = 300
	img := mkfsTree(t, "16M", v.args, func(src string) {
		for i := range n {
			mustWrite(t, filepath.Join(src, fmt.Sprint("f", i)), strings.Repeat("x", i*10))
		}
	})
	f, _ := mountImageRW(t, img)
	if !superOf(t, img).HasRoCompat(disk.RoCompatOrphanPresent) {
		t.Errorf("orphan_present not set by a read-write mount")
	}
	root := rwDir(t, f, "")
	held := make([]vfs.Inode, n)
	var inos []uint32
	for i := range n {
		var err error
		held[i], err = lookupPath(f, fmt.Sprint("f", i))
		wantErrno(t, "lookup", err, 0)
		wantErrno(t, "unlink", root.Unlink(nowCtx, fmt.Sprint("f", i)), 0)
		inos = append(inos, uint32(held[i].Ino()))
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := testutil.Ext4OrphanFileEntries(t, img)
	inFile := min(n, len(f.ofile.blocks)*int(f.ofile.perBlock))
	if !slices.Equal(got, inos[:inFile]) {
		t.Errorf("orphan file holds %d inodes %v..., want %d from %d", len(got), got[:min(len(got), 5)], inFile, inos[0])
	}
	// The rest are on the list, the newest first.
	if head, _ := f.lastOrphan(); inFile < n && head != inos[n-1] || inFile == n && head != 0 {
		t.Errorf("s_last_orphan %d with %d of %d orphans in the file", head, inFile, n)
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	copyImage(t, img, crashed)
	if out, err := exec.Command("e2fsck", "-fn", crashed).CombinedOutput(); err == nil {
		t.Errorf("e2fsck finds nothing with %d orphans:\n%s", n, out)
	}
	hostCrashed := filepath.Join(t.TempDir(), "host-crashed")
	copyImage(t, crashed, hostCrashed)
	f2, log := mountImageRW(t, crashed)
	if !strings.Contains(log.String(), fmt.Sprintf("%d orphan inodes deleted", n)) {
		t.Errorf("log:\n%s", log)
	}
	if f2.ofile.pending() {
		t.Errorf("orphan file not empty after the cleanup")
	}
	umountRW(t, f2)
	e2fsckClean(t, crashed)
	if got := testutil.Ext4OrphanFileEntries(t, crashed); len(got) != 0 {
		t.Errorf("orphan file after cleanup holds %v", got)
	}

	// The host kernel reads the orphan file we wrote as its own: its
	// read-write mount deletes the orphans.
	hostMountRW(t, hostCrashed)
	e2fsckClean(t, hostCrashed)
	if got := testutil.Ext4OrphanFileEntries(t, hostCrashed); len(got) != 0 {
		t.Errorf("orphan file after the host's cleanup holds %v", got)
	}

	// Half are evicted now, the rest at unmount.
	for _, ip := range held[:n/2] {
		wantErrno(t, "evict", ip.(vfs.Evicter).Evict(), 0)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Ext4OrphanFileEntries(t, img); len(got) != inFile-min(inFile, n/2) {
		t.Errorf("orphan file holds %d after %d evictions", len(got), n/2)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	if superOf(t, img).HasRoCompat(disk.RoCompatOrphanPresent) {
		t.Errorf("orphan_present left set by unmount")
	}
	if got := testutil.Ext4OrphanFileEntries(t, img); len(got) != 0 {
		t.Errorf("orphan file after unmount holds %v", got)
	}
}

// hostMountRW mounts img read-write with the host kernel (which replays
// its journal and cleans its orphans up), then unmounts it.
func hostMountRW(t *testing.T, img string) {
	t.Helper()
	testutil.NeedLoop(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", img, mnt)
	testutil.Run(t, "umount", mnt)
}

// TestOrphanFileCorrupt: an orphan file with a bad block (its tail's magic
// or checksum, an entry changed under the checksum) or a bad inode number
// keeps the mount read-only, with a message naming what is wrong, as
// ext4_init_orphan_info refuses it; the image is not written.
func TestOrphanFileCorrupt(t *testing.T) {
	testutil.Need(t, "debugfs")
	img := mkfsTree(t, "16M", []string{"-O", "orphan_file"}, nil)
	out, err := exec.Command("debugfs", "-R", "bmap <12> 1", img).Output()
	if err != nil {
		t.Fatalf("debugfs bmap: %v", err)
	}
	var blk int64
	if _, err := fmt.Sscan(string(out), &blk); err != nil || blk == 0 {
		t.Fatalf("debugfs bmap <12> 1: %q", out)
	}
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	bs := int64(1024) // mke2fs's block size for 16 MiB
	for _, c := range []struct {
		name, want string
		off        int64
		val        uint32
	}{
		{"magic", "orphan file block 1: bad magic", blk*bs + bs - 8, 0x12345678},
		{"checksum", "orphan file block 1: bad checksum", blk*bs + bs - 4, 0},
		{"entry", "orphan file block 1: bad checksum", blk * bs, 13},
		{"inode number", "orphan file: bad inode number 99999999", disk.SuperblockOffset + 0x280, 99999999},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			binary.LittleEndian.PutUint32(b[c.off:], c.val)
			if c.off >= disk.SuperblockOffset+0x100 && c.off < disk.SuperblockOffset+disk.SuperblockSize {
				s := b[disk.SuperblockOffset : disk.SuperblockOffset+disk.SuperblockSize]
				binary.LittleEndian.PutUint32(s[disk.OffSChecksum:], disk.Csum32(crc32.MakeTable(crc32.Castagnoli), ^uint32(0), s[:disk.OffSChecksum]))
			}
			p := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			log := &testLog{}
			sb, err := NewType().Mount(openDevRW(t, p), 0, "", log)
			if err != nil {
				t.Fatalf("mount: %v\n%s", err, log)
			}
			if !sb.(*fsys).ReadOnly() || !strings.Contains(log.String(), c.want) {
				t.Errorf("read-only %v, log:\n%s", sb.(*fsys).ReadOnly(), log)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(after, b) {
				t.Errorf("the image was written")
			}
		})
	}
}
