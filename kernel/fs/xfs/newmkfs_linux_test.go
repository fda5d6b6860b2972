package xfs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestNewMkfsImages: images a newer mkfs.xfs than Debian 12's made
// (testdata/newmkfs.sh: xfsprogs 6.15's defaults, parent pointers, the
// metadata directory tree, exchange-range, 1 KiB blocks without nrext64;
// testdata/bui.sh: a log left with unfinished file mapping updates) are
// committed with the tree the host kernel showed of each (once its own
// mount had recovered a copy), so that neither the new mkfs.xfs nor a
// loop mount is needed here: what the library kernel shows must be that
// tree, entry by entry. LKLIMG_XFS_RECORD=1 records the trees again
// from the host's loop mount.
func TestNewMkfsImages(t *testing.T) {
	newer, err := filepath.Glob("testdata/newmkfs-*.img.zst")
	if err != nil {
		t.Fatal(err)
	}
	bui, err := filepath.Glob("testdata/bui-*.img.zst")
	if err != nil {
		t.Fatal(err)
	}
	imgs := append(newer, bui...)
	if len(imgs) == 0 {
		t.Fatal("no image in testdata")
	}
	record := os.Getenv("LKLIMG_XFS_RECORD") != ""
	for _, z := range imgs {
		name := strings.TrimSuffix(filepath.Base(z), ".img.zst")
		treeFile := strings.TrimSuffix(z, ".img.zst") + ".tree.json.zst"
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "xfs.img")
			testutil.Unzstd(t, z, img)
			if record {
				recordTree(t, img, treeFile)
			}
			want := loadTree(t, treeFile)
			before := testutil.FileSum(t, img)
			got := kernelView(t, img)
			testutil.ExpectSame(t, name, want, got, compareOptions())
			if testutil.FileSum(t, img) != before {
				t.Error("the image changed")
			}
			t.Logf("%s: %d entries compared", name, len(want))
		})
	}
}

// recordTree writes to file the tree the host shows of img once a
// read-write loop mount of a copy has recovered its log.
func recordTree(t *testing.T, img, file string) {
	cp := filepath.Join(t.TempDir(), "copy.img")
	testutil.Run(t, "cp", "--sparse=always", img, cp)
	testutil.FillLoop(t, cp)
	tree := testutil.LoopView(t, cp)
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, enc.EncodeAll(b, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadTree reads a tree recordTree wrote.
func loadTree(t *testing.T, file string) testutil.Tree {
	p := filepath.Join(t.TempDir(), "tree.json")
	testutil.Unzstd(t, file, p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var tree testutil.Tree
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	return tree
}
