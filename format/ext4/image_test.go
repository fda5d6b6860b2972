package ext4

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// testImage is an image made by mke2fs, read with this package alone: the
// superblock decoded, the geometry derived, the descriptors loaded.
type testImage struct {
	path string
	f    *os.File
	raw  []byte // the superblock's 1024 bytes
	Geometry
}

// mkImage makes an image with mke2fs (size and options as mke2fs takes
// them) and opens it.
func mkImage(t testing.TB, size string, args ...string) *testImage {
	t.Helper()
	return openImage(t, testutil.Mke2fsImage(t, size, args...))
}

// openImage decodes the image's superblock and loads its descriptors: a
// descriptor checksum that does not match fails the test.
func openImage(t testing.TB, path string) *testImage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	im := &testImage{path: path, f: f, raw: make([]byte, SuperblockSize)}
	if _, err := f.ReadAt(im.raw, SuperblockOffset); err != nil {
		t.Fatal(err)
	}
	sb, err := DecodeSuperblock(im.raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	im.Geometry = NewGeometry(sb)
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	err = im.LoadGroupDescs(st.Size(), im.readBlock, func(g uint64, want, got uint16) {
		t.Errorf("group %d: bg_checksum %#04x, computed %#04x", g, got, want)
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return im
}

func (im *testImage) readBlock(b []byte, blk uint64) error {
	_, err := im.f.ReadAt(b, int64(blk)<<im.BlockBits)
	return err
}

// block reads block blk.
func (im *testImage) block(t testing.TB, blk uint64) []byte {
	t.Helper()
	b := make([]byte, im.BlockSize)
	if err := im.readBlock(b, blk); err != nil {
		t.Fatalf("block %d: %v", blk, err)
	}
	return b
}

// descRaw returns the bytes of group g's descriptor.
func (im *testImage) descRaw(t testing.TB, g uint32) []byte {
	t.Helper()
	size := im.Super.DescSize()
	b := im.block(t, im.DescBlock(uint64(g/im.DescPerBlock)))
	off := (g % im.DescPerBlock) * size
	return b[off : off+size]
}

// inode returns the raw slot of inode ino (s_inode_size bytes).
func (im *testImage) inode(t testing.TB, ino uint32) []byte {
	t.Helper()
	ipg := im.Super.SInodesPerGroup
	g, i := (ino-1)/ipg, (ino-1)%ipg
	off := uint64(i) * uint64(im.InodeSize)
	b := im.block(t, im.Groups[g].BgInodeTable+off/uint64(im.BlockSize))
	o := off % uint64(im.BlockSize)
	return b[o : o+uint64(im.InodeSize)]
}

// firstBlock returns the physical block of an extent-mapped inode's first
// block, decoded from its i_block root.
func (im *testImage) firstBlock(t testing.TB, raw []byte) uint64 {
	t.Helper()
	root := raw[OffIBlock : OffIBlock+IBlockLen]
	h, err := DecodeExtentNode(root)
	if err != nil || h.EhDepth != 0 || h.EhEntries == 0 {
		t.Fatalf("extent root %x: %v", root, err)
	}
	return ExtentAt(root, 0).EeStart
}
