package erofs_test

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Images of mkfs.erofs 1.9.3 (testdata/mkfs19, made by make.sh there):
// the 48-bit layout (extent records, 48-bit chunk indexes, directories
// without "."), the metabox, dedupe, fragments, blocks of 512 to 2048
// bytes with compact indexes, MicroLZMA, DEFLATE and Zstandard, long
// xattr prefixes in the metabox and on the device, and an index-only
// tar image on an extra device. Each NAME.img.gz has beside it
// NAME.tree.json.gz, the host kernel's view of it (a loop mount),
// which the library kernel's must equal; EROFS_RECORD=1 records those
// views again (root, loop devices).
const mkfs19Dir = "testdata/mkfs19"

func TestMkfs19(t *testing.T) {
	eachMkfs19(t, func(t *testing.T, name, gz string) {
		img := testutil.Gunzip(t, gz)
		treeFile := filepath.Join(mkfs19Dir, name+".tree.json.gz")
		if os.Getenv("EROFS_RECORD") != "" {
			writeTree(t, treeFile, testutil.LoopView(t, img))
		}
		want := readTree(t, treeFile)
		testutil.ExpectSame(t, name, want, kernelView(t, img), compareOptions())
	})
}

// eachMkfs19 runs check as a subtest for each image of mkfs19Dir (its
// name and gzip file) but tar-index, whose files' data fail with EIO
// (TestMkfs19TarIndex).
func eachMkfs19(t *testing.T, check func(t *testing.T, name, gz string)) {
	imgs, err := filepath.Glob(filepath.Join(mkfs19Dir, "*.img.gz"))
	if err != nil || len(imgs) == 0 {
		t.Fatalf("no images in %s: %v", mkfs19Dir, err)
	}
	for _, gz := range imgs {
		name := strings.TrimSuffix(filepath.Base(gz), ".img.gz")
		if name == "tar-index" {
			continue
		}
		t.Run(name, func(t *testing.T) { check(t, name, gz) })
	}
}

// TestMkfs19TarIndex: the index-only image without its tar. Linux
// mounts it (flatdev: the extra device read from the one disk) and
// shows the tree, and a file's data, past the disk's end, fails with
// EIO; so must the library kernel.
func TestMkfs19TarIndex(t *testing.T) {
	img := testutil.Gunzip(t, filepath.Join(mkfs19Dir, "tar-index.img.gz"))
	if err := kerneltest.MountErr(t, img, "erofs", abi.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if err := kerneltest.ExportErr(img); !errors.Is(err, abi.EIO) {
		t.Errorf("export: %v, want EIO", err)
	}
	kerneltest.WithMount(t, img, "erofs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		var st abi.Stat
		must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/sizes/t4097", &st, 0))
		if st.Size != 4097 {
			t.Errorf("size %d, want 4097", st.Size)
		}
	})
}

// writeTree records tree as gzipped JSON in file.
func writeTree(t *testing.T, file string, tree testutil.Tree) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	z, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	enc := json.NewEncoder(z)
	enc.SetIndent("", " ")
	if err := enc.Encode(tree); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readTree reads a tree writeTree recorded.
func readTree(t *testing.T, file string) testutil.Tree {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var tree testutil.Tree
	if err := json.NewDecoder(z).Decode(&tree); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return tree
}
