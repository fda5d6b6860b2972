package btrfs_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
)

// Damaged images: seeded mutations of small btrfs images (a tree from
// --rootdir, files compressed with zlib, lzo and zstd, a subvolume and
// a snapshot), each attached to a kernel, mounted with the type probed
// and exported whole as fs2tar would. Most mutations hit a tree block
// and then set its checksum right, so that the decoders, not the
// checksum, meet the damage; the others hit the superblock (its
// checksum set right or not) or any byte. Nothing may panic or hang
// (each has a deadline), and every failure must be an errno a reader
// can act on: EUCLEAN for damage (the reason naming the structure),
// EIO, EINVAL or EOPNOTSUPP for a superblock Linux refuses too,
// ENOENT/ENOTDIR/ELOOP for names that lead nowhere.

// liveBlock is a tree block in use: where it lies on the device and
// its decoded form.
type liveBlock struct {
	at   int64
	node *disk.Node
	log  bool // a block of the log tree or the tree of log roots
}

// liveBlocks walks the image's trees from the superblock (the chunk
// tree, the tree of roots, every subvolume's tree) and returns their
// blocks, each once: the blocks a mount and an export read, not the
// stale copies copy-on-write leaves behind nor the trees a reader
// leaves alone (extents, checksums, free space).
func liveBlocks(t testing.TB, f *os.File, sb *disk.SuperBlock) []liveBlock {
	chunks, err := disk.DecodeSysChunkArray(sb.SysChunkArray, sb.SectorSize)
	if err != nil {
		t.Fatal(err)
	}
	phys := func(l uint64) int64 {
		for _, c := range chunks {
			if l >= c.Logical && l < c.Logical+c.Length {
				return int64(c.Stripes[0].Offset + l - c.Logical)
			}
		}
		t.Fatalf("logical %d in no chunk", l)
		return 0
	}
	seen := map[uint64]bool{}
	var blocks []liveBlock
	var roots, logRoots []uint64
	inLog := false
	var walk func(l uint64)
	walk = func(l uint64) {
		if seen[l] {
			return
		}
		seen[l] = true
		b := make([]byte, sb.NodeSize)
		at := phys(l)
		if _, err := f.ReadAt(b, at); err != nil {
			t.Fatal(err)
		}
		n, err := disk.DecodeNode(b, l, sb.CsumType, sb.Fsid)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, liveBlock{at, n, inLog})
		for i := range int(n.Nritems) {
			if n.Level > 0 {
				walk(n.Ptr(i).Blockptr)
				continue
			}
			it := n.Item(i)
			switch it.Key.Type {
			case disk.ChunkItemKey:
				if c, _, err := disk.DecodeChunk(it.Key.Offset, it.Data, sb.SectorSize); err == nil {
					chunks = append(chunks, c)
				}
			case disk.RootItemKey:
				id := it.Key.Objectid
				if id == disk.TreeLogObjectid {
					if r, err := disk.DecodeRootItem(it.Data); err == nil {
						logRoots = append(logRoots, r.Bytenr)
					}
					break
				}
				if id != disk.FsTreeObjectid && (id < disk.FirstFreeObjectid || id > disk.LastFreeObjectid) {
					break // the extent, checksum, free space... trees: not read
				}
				if r, err := disk.DecodeRootItem(it.Data); err == nil {
					roots = append(roots, r.Bytenr)
				}
			}
		}
	}
	walk(sb.ChunkRoot)
	walk(sb.Root)
	for i := 0; i < len(roots); i++ {
		walk(roots[i])
	}
	if sb.LogRoot != 0 {
		inLog = true
		walk(sb.LogRoot)
		for _, l := range logRoots {
			walk(l)
		}
	}
	return blocks
}

func TestCorruptImages(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs")
	testutil.NeedLoop(t)
	src := t.TempDir()
	files := map[string]string{"small": "hi\n", "sub/deep/x": "x", "sub/y": string(text(5000))}
	for i := range 150 {
		files[fmt.Sprintf("many/file-%03d", i)] = fmt.Sprint(i)
	}
	testutil.WriteFiles(t, src, files, map[string]string{"user.attr": "value"})
	if err := os.Symlink("sub/deep/x", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range []struct {
		name, opts string
		mkfs       []string
	}{
		{"zstd-crc32c-4k", "compress=zstd", []string{"-n", "4096"}},
		{"lzo-xxhash-16k", "compress-force=lzo", []string{"--csum", "xxhash"}},
		{"zlib-sha256-dup", "compress=zlib", []string{"--csum", "sha256", "-n", "4096", "-m", "dup"}},
		{"log", "", nil}, // a log tree replayed at each mount
	} {
		t.Run(c.name, func(t *testing.T) {
			var img string
			if c.name == "log" {
				img = logImageFrom(t, logBase, ",compress=zstd", `echo appended >> d/old; echo new > d/new
head -c 100000 /dev/urandom > e/rand; setfattr -n user.added -v v d/attrs; setfattr -x user.gone d/attrs
rm d/gone; mv d/mvme d/renamed; ln d/old e/oldlink; truncate -s 5000 d/big; fallocate -o 0 -l 1M -n e/z
sync d d/old d/new e/rand d/attrs d/renamed d/big e/z`)
			} else {
				img = mkfsBtrfs(t, append(c.mkfs, "--rootdir", src)...)
				fillHost(t, img, c.opts, func(mnt string) {
					writeFile(t, filepath.Join(mnt, "comp", "text"), text(300000))
					writeFile(t, filepath.Join(mnt, "comp", "inline"), text(2000))
					writeFile(t, filepath.Join(mnt, "comp", "mixed"), append(text(70000), random(5, 70000)...))
					fillSubvols(t, mnt)
				})
			}
			if err := kerneltest.ExportErr(img); err != nil {
				t.Fatalf("the undamaged image: %v", err)
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sbb := make([]byte, disk.SuperInfoSize)
			if _, err := f.ReadAt(sbb, disk.SuperInfoOffset); err != nil {
				t.Fatal(err)
			}
			sb, err := disk.DecodeSuperBlock(sbb)
			if err != nil {
				t.Fatal(err)
			}
			blocks := liveBlocks(t, f, sb)
			var logBlocks []liveBlock
			for _, b := range blocks {
				if b.log {
					logBlocks = append(logBlocks, b)
				}
			}
			t.Logf("%d tree blocks in use, %d of the log", len(blocks), len(logBlocks))
			r := rand.New(rand.NewPCG(uint64(len(c.name)), 18))
			for i := range 100 {
				// Where the mutation goes: a tree block (its checksum
				// fixed), the superblock (fixed or not), any byte of
				// the first 32 MiB (data, mostly).
				var start, n int64
				var blk *disk.Node
				switch k := r.IntN(10); {
				case k < 7:
					lb := blocks[r.IntN(len(blocks))]
					if len(logBlocks) > 0 && k < 4 {
						lb = logBlocks[r.IntN(len(logBlocks))] // the log's, mostly
					}
					start, n, blk = lb.at, int64(sb.NodeSize), lb.node
				case k < 9:
					start, n = disk.SuperInfoOffset, disk.SuperInfoSize
				default:
					start, n = 0, 32<<20
				}
				orig := make([]byte, n)
				if _, err := f.ReadAt(orig, start); err != nil {
					t.Fatal(err)
				}
				b := append([]byte(nil), orig...)
				for range 1 + r.IntN(3) {
					at := r.IntN(len(b))
					if blk != nil {
						at = mutationIn(r, blk)
					} else if n == disk.SuperInfoSize {
						at = disk.CsumSize + r.IntN(0x32b+256-disk.CsumSize)
					}
					b[at] = byte(r.Uint32())
				}
				if blk != nil || n == disk.SuperInfoSize && r.IntN(4) != 0 {
					// Most checksums set right, so that the decoders
					// meet the damage.
					disk.FixChecksum(sb.CsumType, b)
				}
				if _, err := f.WriteAt(b, start); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- kerneltest.ExportErr(img) }()
				select {
				case err := <-done:
					counts[kerneltest.ErrName(err)]++
					if err != nil && !kerneltest.DamageErr(err) {
						t.Errorf("mutation %d: unclear error %v", i, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("mutation %d (at %d+%d): mount and export still running after 30s", i, start, n)
				}
				if _, err := f.WriteAt(orig, start); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	t.Logf("outcomes of the mutations: %v", counts)
}

// mutationIn picks a byte of tree block n to change: in its header, an
// item's or key pointer's header, or an item's data.
func mutationIn(r *rand.Rand, n *disk.Node) int {
	if n.Nritems == 0 || r.IntN(5) == 0 {
		return disk.CsumSize + r.IntN(disk.HeaderSize-disk.CsumSize)
	}
	i := r.IntN(int(n.Nritems))
	if n.Level > 0 {
		return disk.HeaderSize + i*disk.KeyPtrSize + r.IntN(disk.KeyPtrSize)
	}
	it := n.Item(i)
	if len(it.Data) == 0 || r.IntN(3) == 0 {
		return disk.HeaderSize + i*disk.ItemSize + r.IntN(disk.ItemSize)
	}
	return n.DataOffset(i) + r.IntN(len(it.Data))
}
