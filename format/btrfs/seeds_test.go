package btrfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWriteFuzzSeeds writes the seed corpus of the fuzz targets
// (testdata/fuzz) from images mkfs.btrfs makes of a small tree, then
// fills through a host mount with zlib, lzo and zstd: the superblock,
// a leaf and a node, and the first items of each type, and compressed
// extents. It runs with LKLIMG_WRITE_FUZZ_SEEDS=1 (go test -run
// TestWriteFuzzSeeds ./format/btrfs/), as root with loop devices.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LKLIMG_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz: set LKLIMG_WRITE_FUZZ_SEEDS=1")
	}
	testutil.Need(t, "mkfs.btrfs", "setfattr")
	testutil.NeedLoop(t)
	src := t.TempDir()
	var text strings.Builder
	for i := 0; text.Len() < 40000; i++ {
		fmt.Fprintf(&text, "line %d\n", i)
	}
	files := map[string]string{"text": text.String(), "small": "hi\n", "d/x": "x"}
	for i := range 300 {
		files[fmt.Sprintf("many/file-%d", i)] = "x"
	}
	testutil.WriteFiles(t, src, files, map[string]string{"user.attr": "value"})
	for _, c := range []struct{ name, compress string }{{"zlib", "zlib"}, {"lzo", "lzo"}, {"zstd", "zstd"}} {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "truncate", "-s", "128M", img)
		testutil.Run(t, "mkfs.btrfs", "-q", "-n", "4096", "--rootdir", src, img)
		mnt := t.TempDir()
		testutil.Run(t, "mount", "-o", "loop,compress-force="+c.compress, img, mnt)
		err := os.WriteFile(filepath.Join(mnt, "compressed"), []byte(text.String()), 0o644)
		if err == nil {
			err = os.WriteFile(filepath.Join(mnt, "inline"), []byte(text.String()[:3000]), 0o644)
		}
		exec.Command("umount", mnt).Run()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		writeSeeds(t, c.name, c.compress, raw)
	}
}

// writeSeeds cuts the seeds from the image raw: its tree blocks are
// found by their fsid and bytenr at each sector, their items by type.
func writeSeeds(t *testing.T, name, compress string, raw []byte) {
	sbb := raw[SuperInfoOffset : SuperInfoOffset+SuperInfoSize]
	sb, err := DecodeSuperBlock(sbb)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFuzzSeed(t, "FuzzSuperBlock", name, sbb)
	var chunks []Chunk
	if chunks, err = DecodeSysChunkArray(sb.SysChunkArray, sb.SectorSize); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFuzzSeed(t, "FuzzChunk", name+"-sys", uint64(0), sb.SysChunkArray)
	seen := map[string]int{}
	seed := func(target, kind string, args ...any) {
		if seen[target+kind] < 2 {
			testutil.WriteFuzzSeed(t, target, fmt.Sprintf("%s-%s-%d", name, kind, seen[target+kind]), args...)
		}
		seen[target+kind]++
	}
	var extents []FileExtent
	ns := int(sb.NodeSize)
	for off := 0; off+ns <= len(raw); off += int(sb.SectorSize) {
		b := raw[off : off+ns]
		if string(b[32:48]) != string(sb.Fsid[:]) {
			continue
		}
		n, err := DecodeNode(b, le.Uint64(b[48:]), sb.CsumType, sb.Fsid)
		if err != nil {
			continue
		}
		seed("FuzzNode", fmt.Sprint("level", n.Level), b)
		if n.Level > 0 {
			continue
		}
		for i := 0; i < int(n.Nritems); i++ {
			it := n.Item(i)
			switch it.Key.Type {
			case InodeItemKey:
				seed("FuzzInodeItem", "inode", it.Data)
			case InodeRefKey:
				seed("FuzzInodeRefs", "ref", it.Data, it.Key.Offset, false)
			case InodeExtrefKey:
				seed("FuzzInodeRefs", "extref", it.Data, it.Key.Offset, true)
			case DirItemKey, DirIndexKey, XattrItemKey:
				seed("FuzzDirItems", fmt.Sprint("type", it.Key.Type), it.Data)
			case RootItemKey, RootRefKey, RootBackrefKey:
				seed("FuzzRootItem", fmt.Sprint("type", it.Key.Type), it.Data)
			case ChunkItemKey:
				seed("FuzzChunk", "item", it.Key.Offset, it.Data)
				if c, _, err := DecodeChunk(it.Key.Offset, it.Data, sb.SectorSize); err == nil {
					chunks = append(chunks, c)
				}
			case ExtentDataKey:
				seed("FuzzFileExtent", fmt.Sprint("type", it.Data[20], "-compress", it.Data[16]), it.Data, sb.SectorSize)
				if e, err := DecodeFileExtent(it.Data, sb.SectorSize); err == nil && e.Compression != CompressNone {
					extents = append(extents, e)
				}
			}
		}
	}
	for _, e := range extents {
		data := e.Inline
		if e.Type != FileExtentInline {
			for _, c := range chunks {
				if e.DiskBytenr >= c.Logical && e.DiskBytenr < c.Logical+c.Length {
					p := c.Stripes[0].Offset + e.DiskBytenr - c.Logical
					data = raw[p : p+e.DiskNumBytes]
					break
				}
			}
		}
		if data == nil {
			continue
		}
		seed("FuzzDecompress", compress, e.Compression, data, uint32(e.RAMBytes))
		if e.Compression == CompressLZO {
			seed("FuzzLZO", "extent", data, sb.SectorSize, uint16(min(e.RAMBytes, 65535)))
		}
	}
}
