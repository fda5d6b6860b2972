package erofs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWriteFuzzSeeds writes the seed corpus of the fuzz targets
// (testdata/fuzz) from images mkfs.erofs makes of a small tree: the
// superblock, the root inode (compact and extended), a directory block,
// an xattr body with shared ids, a compressed file's full index and
// compact pack, and its first LZ4 pcluster. It runs with
// LKLIMG_WRITE_FUZZ_SEEDS=1 (go test -run TestWriteFuzzSeeds ./format/erofs/).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LKLIMG_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz: set LKLIMG_WRITE_FUZZ_SEEDS=1")
	}
	testutil.Need(t, "mkfs.erofs", "setfattr")
	src := t.TempDir()
	var text strings.Builder
	for i := 0; text.Len() < 40000; i++ {
		fmt.Fprintf(&text, "line %d\n", i)
	}
	files := map[string]string{"text": text.String(), "small": "hi\n", "d/x": "x"}
	testutil.WriteFiles(t, src, files, map[string]string{"user.shared": "same"})
	write := func(target, name string, args ...any) {
		testutil.WriteFuzzSeed(t, target, name, args...)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"-x1"}},
		{"extended", []string{"-Eforce-inode-extended"}},
		{"lz4hc-compact", []string{"-zlz4hc", "-x1"}},
		{"lz4-full", []string{"-zlz4", "-Elegacy-compress"}},
		{"lz4-bigpcluster", []string{"-zlz4hc", "-C65536"}},
	} {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "mkfs.erofs", append(c.args, img, src)...)
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := DecodeSuperBlock(raw[SuperOffset:])
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzSuperBlock", c.name, raw[SuperOffset:SuperOffset+sb.ChecksumLen()])
		bs := int64(sb.BlockSize())
		iget := func(nid uint64) (*Inode, int64) {
			pos := int64(sb.MetaBlkAddr)*bs + int64(nid)*32
			in, err := DecodeInode(raw[pos:])
			if err != nil {
				t.Fatal(err)
			}
			return in, pos
		}
		root, rpos := iget(uint64(sb.RootNid))
		write("FuzzInode", c.name, raw[rpos:rpos+int64(root.ISize())])
		// The root directory is small: one block, inline or not.
		dpos := rpos + int64(root.ISize()+root.XattrISize())
		if root.DataLayout() == InodeFlatPlain {
			dpos = int64(root.U) * bs
		}
		dir := raw[dpos : dpos+int64(root.Size)]
		write("FuzzDirBlock", c.name, dir)
		d, err := DecodeDirBlock(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < d.Len(); i++ {
			e := d.Entry(i)
			if string(e.Name) != "text" {
				continue
			}
			in, pos := iget(e.Nid)
			write("FuzzInode", c.name+"-text", raw[pos:pos+int64(in.ISize())])
			x := pos + int64(in.ISize())
			write("FuzzXattrBody", c.name, raw[x:x+int64(in.XattrISize())])
			if !in.Compressed() {
				continue
			}
			h := (x + int64(in.XattrISize()) + 7) &^ 7
			idx := raw[h+MapHeaderSize:]
			if in.DataLayout() == InodeCompressedFull {
				write("FuzzFullIndex", c.name, idx[8:16], uint8(0), false)
				write("FuzzFullIndex", c.name+"-1", idx[16:24], uint8(0), false)
				m, err := DecodeFullIndex(idx[8:], 12, false)
				if err != nil {
					t.Fatal(err)
				}
				pc := raw[int64(m.Pblk)*bs : int64(m.Pblk+1)*bs]
				write("FuzzLZ4", c.name, pc, uint16(4096))
				if _, err := SkipZeroPadding(pc); err != nil || bytes.Count(pc, []byte{0}) == len(pc) {
					t.Fatalf("pcluster: %v", err)
				}
			} else {
				write("FuzzCompactIndex", c.name, idx[:32], uint8(0), uint8(0), c.name == "lz4-bigpcluster", true)
				write("FuzzCompactIndex", c.name+"-4b", idx[:8], uint8(1), uint8(0), c.name == "lz4-bigpcluster", false)
			}
		}
	}
}
