package ext4

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWriteFuzzSeeds writes the seed corpus of the fuzz targets
// (testdata/fuzz) from images mke2fs makes: superblocks and descriptors of
// several layouts, an extent root with its leaf, directory blocks, an htree
// root, an in-inode xattr area, the start of a device. It runs with
// LKLIMG_WRITE_FUZZ_SEEDS=1 (go test -run TestWriteFuzzSeeds ./format/ext4/).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LKLIMG_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz: set LKLIMG_WRITE_FUZZ_SEEDS=1")
	}
	write := func(target, name string, args ...any) {
		testutil.WriteFuzzSeed(t, target, name, args...)
	}
	for _, l := range layouts() {
		switch l.name {
		case "1k-64groups", "64k", "rev0", "sparse_super2", "meta_bg", "meta_bg-32byte", "bigalloc-1k", "casefold-csum_seed", "journal":
		default:
			continue
		}
		im := mkImage(t, l.size, l.args...)
		write("FuzzSuperblock", l.name, im.raw)
		desc := im.descRaw(t, 0)
		write("FuzzGroupDesc", l.name, desc, uint16(len(desc)))
		// The device up to the end of the descriptor table, when that
		// is small.
		end := (im.DescBlock(max(im.DescBlocks(), 1)-1) + 1) << im.BlockBits
		if end <= 8192 {
			dev := make([]byte, end)
			if _, err := im.f.ReadAt(dev, 0); err != nil {
				t.Fatal(err)
			}
			write("FuzzLoadGroupDescs", l.name, dev)
		}
	}

	// A tree with a sparse file (an extent tree of depth 1), an htree
	// directory and extended attributes.
	src := t.TempDir()
	sparse, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 10; i++ {
		sparse.WriteAt([]byte("data"), i*4096)
	}
	sparse.Close()
	os.Mkdir(filepath.Join(src, "big"), 0o755)
	for i := 0; i < 120; i++ {
		os.WriteFile(filepath.Join(src, "big", fmt.Sprintf("file-%03d", i)), nil, 0o644)
	}
	os.WriteFile(filepath.Join(src, "x"), []byte("x"), 0o644)
	xattrs := unix.Setxattr(filepath.Join(src, "x"), "user.a", []byte("1"), 0) == nil &&
		unix.Setxattr(filepath.Join(src, "x"), "user.bb", []byte("hello"), 0) == nil
	path := testutil.Mke2fsImage(t, "8M", "-b", "1024", "-I", "256", "-O", "^has_journal", "-d", src)
	// mke2fs -d writes linear directories; e2fsck -D indexes them (and
	// exits 1: it changed the filesystem).
	if err := exec.Command("e2fsck", "-fyD", path).Run(); err != nil && err.(*exec.ExitError).ExitCode() != 1 {
		t.Fatalf("e2fsck -fyD: %v", err)
	}
	im := openImage(t, path)
	root := im.block(t, im.firstBlock(t, im.inode(t, RootIno)))
	write("FuzzDirBlock", "root-1k", root, true, false)
	inos := map[string]uint32{}
	ParseDirBlock(root, im.BlockSize, true, func(_ int, d Dirent) bool {
		inos[string(d.Name)] = d.Inode
		return true
	})
	sp := im.inode(t, inos["sparse"])
	iblock := sp[OffIBlock : OffIBlock+IBlockLen]
	write("FuzzExtentNode", "root-depth1", iblock)
	write("FuzzExtentNode", "leaf-1k", im.block(t, ExtentIdxAt(iblock, 0).EiLeaf))
	big := im.inode(t, inos["big"])
	if le.Uint32(big[OffIFlags:])&InodeIndexFl == 0 {
		t.Fatal("big is not indexed")
	}
	dx := im.block(t, im.firstBlock(t, big))
	write("FuzzDxNode", "root-1k", dx, "file-007", false)
	co, _ := DxCountOffset(dx, im.BlockSize)
	ents, _, err := DxEntries(dx, co)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf the second index entry points to (a logical block of big,
	// mapped by its one extent).
	leaf := im.block(t, im.firstBlock(t, big)+uint64(le.Uint32(ents[DxEntrySize+4:])))
	write("FuzzDirBlock", "htree-leaf-1k", leaf, true, false)
	if xattrs {
		x := im.inode(t, inos["x"])
		area := x[GoodOldInodeSize+im.ExtraIsize(x):]
		write("FuzzXattrEntries", "ibody", area, uint16(4), int16(4))
	} else {
		testutil.Skip(t, "no user xattrs on %s", src)
	}
}
