package xfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWriteFuzzSeeds writes the seed corpus of the fuzz targets
// (testdata/fuzz) from a v5 and a v4 image mkfs.xfs makes and the host
// fills: the superblock, AG 0's AGF and AGI, inodes of every fork form, a bmap btree block,
// a block-form directory block, leaf form data and leaf blocks, a da
// node, attribute leaf and node blocks, remote value and symlink blocks,
// the first log record. It runs with LKLIMG_WRITE_FUZZ_SEEDS=1 (go test
// -run TestWriteFuzzSeeds ./format/xfs/); the v4 image only where the
// host mounts v4.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LKLIMG_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz: set LKLIMG_WRITE_FUZZ_SEEDS=1")
	}
	testutil.Need(t, "mkfs.xfs")
	testutil.NeedLoop(t)
	for _, c := range []struct {
		name string
		args []string
	}{{"v5", nil}, {"v4", []string{"-m", "crc=0"}}} {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "truncate", "-s", "300M", img)
		testutil.Run(t, "mkfs.xfs", append(append([]string{"-q"}, c.args...), img)...)
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
			t.Logf("%s: the host does not mount it (%v): %s", c.name, err, out)
			continue
		}
		inos := seedTree(t, mnt)
		testutil.Run(t, "umount", mnt)
		cutSeeds(t, c.name, img, inos)
	}
}

// seedTree writes a small tree in every form and returns its inode
// numbers by name.
func seedTree(t *testing.T, mnt string) map[string]uint64 {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{3, 40, 400, 1500} {
		d := filepath.Join(mnt, fmt.Sprintf("dir-%d", n))
		must(os.Mkdir(d, 0o755))
		for i := range n {
			must(os.WriteFile(filepath.Join(d, fmt.Sprintf("name-%d-%s", i, strings.Repeat("q", i%23))), nil, 0o644))
		}
	}
	fr, err := os.Create(filepath.Join(mnt, "btree"))
	must(err)
	for i := range 100 {
		_, err := fr.WriteAt([]byte("block"), int64(i)*8192)
		must(err)
	}
	must(fr.Close())
	for name, n := range map[string]int{"attr-few": 2, "attr-leaf": 40, "attr-node": 400} {
		p := filepath.Join(mnt, name)
		must(os.WriteFile(p, nil, 0o644))
		for i := range n {
			must(unix.Setxattr(p, fmt.Sprintf("user.a%d", i), []byte(strings.Repeat("v", 20)), 0))
		}
	}
	p := filepath.Join(mnt, "attr-remote")
	must(os.WriteFile(p, nil, 0o644))
	must(unix.Setxattr(p, "user.big", []byte(strings.Repeat("r", 6000)), 0))
	must(os.Symlink(strings.Repeat("s", 900), filepath.Join(mnt, "symlink")))
	inos := map[string]uint64{}
	entries, err := os.ReadDir(mnt)
	must(err)
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(mnt, e.Name()))
		must(err)
		inos[e.Name()] = fi.Sys().(*syscall.Stat_t).Ino
	}
	return inos
}

// cutSeeds writes the seeds from img.
func cutSeeds(t *testing.T, name, img string, inos map[string]uint64) {
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func(off int64, n int) []byte {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		return b
	}
	sbBytes := read(0, 512)
	sb, err := DecodeSuperblock(sbBytes)
	if err != nil {
		t.Fatal(err)
	}
	crc := sb.HasCRC()
	write := func(target, seed string, args ...any) {
		testutil.WriteFuzzSeed(t, target, name+"-"+seed, args...)
	}
	write("FuzzSuperblock", "sb", sbBytes)
	write("FuzzAgHeaders", "agf", read(int64(sb.SectSize), int(sb.SectSize)), crc)
	write("FuzzAgHeaders", "agi", read(2*int64(sb.SectSize), int(sb.SectSize)), crc)
	bs := int64(sb.BlockSize)
	fsb := func(b uint64) int64 {
		return int64((b>>sb.AgBlkLog)*uint64(sb.AgBlocks)+b&(1<<sb.AgBlkLog-1)) * bs
	}
	inode := func(n string) ([]byte, *Dinode) {
		ino := inos[n]
		agino := ino & (1<<sb.InoBits() - 1)
		off := fsb((ino>>sb.InoBits())<<sb.AgBlkLog|agino>>sb.InopBLog) + int64(agino&(1<<sb.InopBLog-1))*int64(sb.InodeSize)
		raw := read(off, int(sb.InodeSize))
		d, err := DecodeDinode(raw, crc, ino)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		write("FuzzDinode", n, raw, crc)
		return raw, d
	}
	extents := func(raw []byte, d *Dinode, attr bool) []Bmbt {
		fork, n := d.DataFork(raw), d.NExtents
		if attr {
			fork, n = d.AttrFork(raw), uint64(d.ANExtents)
		}
		exts, err := DecodeExtents(fork, n, "seed")
		if err != nil {
			t.Fatal(err)
		}
		return exts
	}
	block := func(exts []Bmbt, fb uint64) []byte {
		for _, e := range exts {
			if fb >= e.StartOff && fb < e.StartOff+e.BlockCount {
				return read(fsb(e.StartBlock+fb-e.StartOff), int(bs))
			}
		}
		t.Fatalf("block %d not mapped", fb)
		return nil
	}
	inode("dir-3")
	inode("attr-few")
	raw, d := inode("dir-40")
	write("FuzzDataBlock", "block", block(extents(raw, d, false), 0), crc, true, sb.HasFtype())
	raw, d = inode("dir-400")
	exts := extents(raw, d, false)
	write("FuzzDataBlock", "data", block(exts, 0), crc, false, sb.HasFtype())
	write("FuzzDaBlock", "dir-leaf", block(exts, uint64(LeafOffset/bs)), crc)
	raw, d = inode("dir-1500")
	exts = nil
	if d.Format == FmtExtents {
		exts = extents(raw, d, false)
	} else if root, err := DecodeBmdr(d.DataFork(raw), "seed"); err == nil && root.Level == 1 {
		for _, p := range root.Ptrs {
			_, _, exts, _ = DecodeBmbtBlock(read(fsb(p), int(bs)), crc, inos["dir-1500"], uint64(fsb(p)>>9), exts, "seed")
		}
	}
	write("FuzzDaBlock", "dir-node", block(exts, uint64(LeafOffset/bs)), crc)
	raw, d = inode("btree")
	if root, err := DecodeBmdr(d.DataFork(raw), "seed"); err == nil {
		write("FuzzBmbtBlock", "leaf", read(fsb(root.Ptrs[0]), int(bs)), crc)
	}
	raw, d = inode("attr-leaf")
	write("FuzzDaBlock", "attr-leaf", block(extents(raw, d, true), 0), crc)
	raw, d = inode("attr-node")
	write("FuzzDaBlock", "attr-node", block(extents(raw, d, true), 0), crc)
	raw, d = inode("attr-remote")
	aexts := extents(raw, d, true)
	for fb := uint64(1); fb < 3; fb++ {
		write("FuzzRemote", fmt.Sprintf("attr-%d", fb), block(aexts, fb), false)
	}
	raw, d = inode("symlink")
	write("FuzzRemote", "symlink", block(extents(raw, d, false), 0), true)
	logOff := fsb(sb.LogStart)
	write("FuzzLogRecHeader", "first", read(logOff, 512))
}
