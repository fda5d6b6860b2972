package e2fsprogs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

const (
	mkfsTestTime = 1700000000
	mkfsTestUUID = "11111111-2222-4333-8444-555555555555"
	mkfsTestSeed = "66666666-7777-4888-9999-aaaaaaaaaaaa"
)

type mkfsCase struct {
	name   string
	size   int64
	fsType string
	args   []string // mke2fs options
	eopts  string   // more of mke2fs's -E options
	// big: compare the images' bytes and dumpe2fs -h only (dumpe2fs
	// and e2fsck take seconds on its tens of thousands of groups).
	big  bool
	edit func(*MkfsParams) error // the same for Mkfs
}

func parseTestUUID(t testing.TB, s string) (u [16]byte) {
	t.Helper()
	h := strings.ReplaceAll(s, "-", "")
	if _, err := fmt.Sscanf(h, "%32x", new([16]byte)); err != nil && len(h) != 32 {
		t.Fatal(err)
	}
	for i := range u {
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &u[i])
	}
	return u
}

// mkfsOracle runs mke2fs on a new sparse file of size bytes.
func mkfsOracle(t testing.TB, path string, c mkfsCase) {
	t.Helper()
	testutil.Need(t, "mke2fs")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, c.size); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-q", "-F", "-t", c.fsType, "-U", mkfsTestUUID,
		"-E", "hash_seed=" + mkfsTestSeed + ",root_owner=0:0" + c.eopts}, c.args...)
	cmd := exec.Command("mke2fs", append(args, path)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d", mkfsTestTime), "MKE2FS_CONFIG=/etc/mke2fs.conf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs %v: %v\n%s", args, err, out)
	}
}

// testParams is case c's parameters as the tests give them to mke2fs
// too (its UUID, hash seed and time; a device that reads as zeros), with
// c.edit applied; the error is the edit's.
func testParams(t testing.TB, c mkfsCase) (MkfsParams, error) {
	t.Helper()
	p, err := DefaultMkfsParams(c.size, c.fsType)
	if err != nil {
		t.Fatal(err)
	}
	p.UUID = parseTestUUID(t, mkfsTestUUID)
	p.HashSeed = parseTestUUID(t, mkfsTestSeed)
	p.Time = mkfsTestTime
	p.Zeroed = true
	if c.edit != nil {
		err = c.edit(&p)
	}
	return p, err
}

// mkfsOurs runs Mkfs on a new sparse file of size bytes.
func mkfsOurs(t testing.TB, path string, c mkfsCase) {
	t.Helper()
	p, err := testParams(t, c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(c.size); err != nil {
		t.Fatal(err)
	}
	if err := Mkfs(f, p); err != nil {
		t.Fatalf("Mkfs: %v", err)
	}
}

func dumpe2fsText(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", path).Output()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v", path, err)
	}
	return string(out)
}

// diffLines returns the first few differing lines of a and b.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  mke2fs: %s\n  Mkfs:   %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

func TestMkfsMatchesMke2fs(t *testing.T) {
	testutil.Need(t, "mke2fs")
	testutil.Need(t, "dumpe2fs")
	for _, c := range mkfsCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ref, ours := filepath.Join(dir, "ref.img"), filepath.Join(dir, "ours.img")
			mkfsOracle(t, ref, c)
			mkfsOurs(t, ours, c)
			dump := dumpe2fsText
			if c.big {
				dump = dumpe2fsHeader
			}
			dr, do := dump(t, ref), dump(t, ours)
			if dr != do {
				t.Errorf("dumpe2fs differs:\n%s", diffLines(dr, do))
			}
			bs := int64(4096)
			if d := testutil.DiffBlocks(t, ref, ours, bs); len(d) > 0 {
				t.Errorf("%d blocks of 4 KiB differ: %v", len(d), d[:min(len(d), 20)])
			}
			if !c.big {
				testutil.E2fsckClean(t, ours)
			}
		})
	}
}

func dumpe2fsHeader(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", path).Output()
	if err != nil {
		t.Fatalf("dumpe2fs -h %s: %v", path, err)
	}
	return string(out)
}

func features(spec string) func(*MkfsParams) error {
	return func(p *MkfsParams) error { return p.SetFeatures(spec) }
}

func blockSize(size int64, bs uint32) func(*MkfsParams) error {
	return func(p *MkfsParams) error { return p.SetBlockSize(size, bs) }
}

// bigalloc sets bigalloc and feats, the block size bs (0: by size) and
// the cluster size (-C; 0: 16 blocks), and raises the inode ratio to a
// cluster as mke2fs's default ratio is.
func bigalloc(size int64, bs, cluster uint32, feats string) func(*MkfsParams) error {
	return func(p *MkfsParams) error {
		if bs != 0 {
			if err := p.SetBlockSize(size, bs); err != nil {
				return err
			}
		}
		p.ClusterSize = cluster
		if err := p.SetFeatures("bigalloc," + feats); err != nil {
			return err
		}
		p.RaiseInodeRatio()
		return nil
	}
}

var mkfsCases = []mkfsCase{
	{name: "ext4-1G", size: 1 << 30, fsType: "ext4"},
	{name: "ext4-64M", size: 64 << 20, fsType: "ext4"},
	{name: "ext4-4G", size: 4 << 30, fsType: "ext4"},
	{name: "ext4-20G", size: 20 << 30, fsType: "ext4"},
	{name: "ext4-5T-big", size: 5 << 40, fsType: "ext4", big: true},
	{name: "ext4-3M-small", size: 3 << 20, fsType: "ext4"},
	{name: "ext4-2M-floppy", size: 2 << 20, fsType: "ext4"},
	{name: "ext4-odd-size", size: 300<<20 + 12345, fsType: "ext4"},
	{name: "ext3-256M", size: 256 << 20, fsType: "ext3"},
	{name: "ext2-256M", size: 256 << 20, fsType: "ext2"},
	{name: "ext2-1G", size: 1 << 30, fsType: "ext2"},
	{name: "no-64bit", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^64bit"}, edit: features("^64bit")},
	{name: "no-metadata_csum", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^metadata_csum"}, edit: features("^metadata_csum")},
	{name: "uninit_bg", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^metadata_csum,uninit_bg"}, edit: features("^metadata_csum,uninit_bg")},
	{name: "no-flex_bg", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^flex_bg"}, edit: features("^flex_bg")},
	{name: "no-resize_inode", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^resize_inode"}, edit: features("^resize_inode")},
	{name: "no-has_journal", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^has_journal"}, edit: features("^has_journal")},
	{name: "sparse_super2", size: 1 << 30, fsType: "ext4", args: []string{"-O", "sparse_super2"}, edit: features("sparse_super2")},
	{name: "meta_bg", size: 1 << 30, fsType: "ext4", args: []string{"-O", "^resize_inode,meta_bg"}, edit: features("^resize_inode,meta_bg")},
	{name: "large_dir", size: 256 << 20, fsType: "ext4", args: []string{"-O", "large_dir"}, edit: features("large_dir")},
	{name: "no-sparse_super", size: 256 << 20, fsType: "ext4", args: []string{"-O", "^sparse_super,^resize_inode"}, edit: features("^sparse_super,^resize_inode")},
	{name: "no-filetype", size: 256 << 20, fsType: "ext4", args: []string{"-O", "^filetype"}, edit: features("^filetype")},
	{name: "no-extent", size: 256 << 20, fsType: "ext4", args: []string{"-O", "^extent,^64bit"}, edit: features("^extent,^64bit")},
	{name: "minimal", size: 256 << 20, fsType: "ext4", args: []string{"-O", "^has_journal,^ext_attr,^dir_index,^huge_file,^dir_nlink,^extra_isize,^large_file"}, edit: features("^has_journal,^ext_attr,^dir_index,^huge_file,^dir_nlink,^extra_isize,^large_file")},
	{name: "stable_inodes", size: 256 << 20, fsType: "ext4", args: []string{"-O", "stable_inodes"}, edit: features("stable_inodes")},
	{name: "verity", size: 256 << 20, fsType: "ext4", args: []string{"-O", "verity"}, edit: features("verity")},
	{name: "ea_inode", size: 256 << 20, fsType: "ext4", args: []string{"-O", "ea_inode"}, edit: features("ea_inode")},
	{name: "encrypt", size: 256 << 20, fsType: "ext4", args: []string{"-O", "encrypt"}, edit: features("encrypt")},
	{name: "casefold", size: 256 << 20, fsType: "ext4", args: []string{"-O", "casefold"}, edit: features("casefold")},
	{name: "casefold-strict", size: 256 << 20, fsType: "ext4", args: []string{"-O", "casefold"}, eopts: ",encoding_flags=strict",
		edit: func(p *MkfsParams) error { p.EncodingFlags = disk.EncodingStrictFl; return p.SetFeatures("casefold") }},
	{name: "csum_seed", size: 256 << 20, fsType: "ext4", args: []string{"-O", "metadata_csum_seed"}, edit: features("metadata_csum_seed")},
	{name: "inline_data", size: 256 << 20, fsType: "ext4", args: []string{"-O", "inline_data"}, edit: features("inline_data")},
	{name: "inline_data-1k", size: 64 << 20, fsType: "ext4", args: []string{"-O", "inline_data", "-b", "1024"}, edit: func(p *MkfsParams) error {
		if err := p.SetBlockSize(64<<20, 1024); err != nil {
			return err
		}
		return p.SetFeatures("inline_data")
	}},
	{name: "inline_data-I1024", size: 256 << 20, fsType: "ext4", args: []string{"-O", "inline_data", "-I", "1024"},
		edit: func(p *MkfsParams) error { p.InodeSize = 1024; return p.SetFeatures("inline_data") }},
	{name: "inline_data-no-extent", size: 256 << 20, fsType: "ext4", args: []string{"-O", "inline_data,^extent,^64bit,^metadata_csum"}, edit: features("inline_data,^extent,^64bit,^metadata_csum")},
	{name: "inline_data-ext2", size: 3 << 20, fsType: "ext2", args: []string{"-O", "inline_data"}, edit: features("inline_data")},
	{name: "b1024", size: 1 << 30, fsType: "ext4", args: []string{"-b", "1024"}, edit: blockSize(1<<30, 1024)},
	{name: "b2048", size: 1 << 30, fsType: "ext4", args: []string{"-b", "2048"}, edit: blockSize(1<<30, 2048)},
	{name: "b4096-small", size: 64 << 20, fsType: "ext4", args: []string{"-b", "4096"}, edit: blockSize(64<<20, 4096)},
	{name: "b2048-ext3", size: 200 << 20, fsType: "ext3", args: []string{"-b", "2048"}, edit: blockSize(200<<20, 2048)},
	{name: "N", size: 1 << 30, fsType: "ext4", args: []string{"-N", "1000"},
		edit: func(p *MkfsParams) error { p.Inodes = 1000; return nil }},
	{name: "i", size: 1 << 30, fsType: "ext4", args: []string{"-i", "65536"},
		edit: func(p *MkfsParams) error { p.InodeRatio = 65536; return nil }},
	{name: "I128", size: 1 << 30, fsType: "ext4", args: []string{"-I", "128"},
		edit: func(p *MkfsParams) error { p.InodeSize = 128; return nil }},
	{name: "I128-1k", size: 64 << 20, fsType: "ext3", args: []string{"-I", "128"},
		edit: func(p *MkfsParams) error { p.InodeSize = 128; return nil }},
	{name: "I1024", size: 256 << 20, fsType: "ext4", args: []string{"-I", "1024"},
		edit: func(p *MkfsParams) error { p.InodeSize = 1024; return nil }},
	{name: "label-m1", size: 1 << 30, fsType: "ext4", args: []string{"-L", "rootfs", "-m", "1"},
		edit: func(p *MkfsParams) error { p.Label = "rootfs"; p.ReservedPercent = 1; return nil }},
	{name: "J", size: 1 << 30, fsType: "ext4", args: []string{"-J", "size=100"},
		edit: func(p *MkfsParams) error { p.JournalBlocks = 100 << 20 / p.BlockSize; return nil }},
	{name: "J-3extents", size: 2 << 30, fsType: "ext4", args: []string{"-J", "size=300"},
		edit: func(p *MkfsParams) error { p.JournalBlocks = 300 << 20 / p.BlockSize; return nil }},
	{name: "J-leaf", size: 8 << 30, fsType: "ext4", args: []string{"-J", "size=700"},
		edit: func(p *MkfsParams) error { p.JournalBlocks = 700 << 20 / p.BlockSize; return nil }},
	{name: "J-ext3-big", size: 1 << 30, fsType: "ext3", args: []string{"-J", "size=64"},
		edit: func(p *MkfsParams) error { p.JournalBlocks = 64 << 20 / p.BlockSize; return nil }},
	{name: "b65536", size: 1 << 30, fsType: "ext4", args: []string{"-b", "65536"}, edit: blockSize(1<<30, 65536)},
	{name: "orphan_file", size: 256 << 20, fsType: "ext4", args: []string{"-O", "orphan_file,metadata_csum_seed"}, edit: features("orphan_file,metadata_csum_seed")},
	{name: "orphan_file-1k", size: 64 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "orphan_file"},
		edit: func(p *MkfsParams) error {
			return errors.Join(p.SetBlockSize(64<<20, 1024), p.SetFeatures("orphan_file"))
		}},
	{name: "orphan_file-big", size: 20 << 30, fsType: "ext4", args: []string{"-O", "orphan_file"}, edit: features("orphan_file")},
	{name: "orphan_file-nocsum", size: 1 << 30, fsType: "ext4", args: []string{"-O", "orphan_file,^metadata_csum,^flex_bg"}, edit: features("orphan_file,^metadata_csum,^flex_bg")},
	{name: "orphan_file-size", size: 1 << 30, fsType: "ext4", args: []string{"-O", "orphan_file"}, eopts: ",orphan_file_size=100",
		edit: func(p *MkfsParams) error { p.OrphanFileBlocks = 100; return p.SetFeatures("orphan_file") }},
	{name: "orphan_file-ext3", size: 256 << 20, fsType: "ext3", args: []string{"-O", "orphan_file"}, edit: features("orphan_file")},
	{name: "orphan_file-ext3-dind", size: 3 << 30, fsType: "ext3", args: []string{"-b", "1024", "-O", "orphan_file"},
		edit: func(p *MkfsParams) error {
			return errors.Join(p.SetBlockSize(3<<30, 1024), p.SetFeatures("orphan_file"))
		}},
	{name: "bigalloc-64M", size: 64 << 20, fsType: "ext4", args: []string{"-O", "bigalloc"}, edit: bigalloc(64<<20, 0, 0, "")},
	{name: "bigalloc-4k-C16K", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc", "-C", "16384"},
		edit: bigalloc(1<<30, 0, 16384, "")},
	{name: "bigalloc-4k-C64K", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc", "-C", "65536"},
		edit: bigalloc(1<<30, 0, 65536, "")},
	{name: "bigalloc-4k-C1M", size: 2 << 30, fsType: "ext4", args: []string{"-O", "bigalloc", "-C", "1048576"},
		edit: bigalloc(2<<30, 0, 1<<20, "")},
	{name: "bigalloc-1k-C4K", size: 256 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc", "-C", "4096"},
		edit: bigalloc(256<<20, 1024, 4096, "")},
	{name: "bigalloc-1k-C16K", size: 1 << 30, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc", "-C", "16384"},
		edit: bigalloc(1<<30, 1024, 16384, "")},
	{name: "bigalloc-no-flex_bg", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc,^flex_bg"},
		edit: bigalloc(1<<30, 0, 0, "^flex_bg")},
	{name: "bigalloc-no-csum-64bit", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc,^metadata_csum,^64bit"},
		edit: bigalloc(1<<30, 0, 0, "^metadata_csum,^64bit")},
	{name: "bigalloc-uninit_bg", size: 512 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc,^metadata_csum,uninit_bg,^flex_bg", "-C", "8192"},
		edit: bigalloc(512<<20, 1024, 8192, "^metadata_csum,uninit_bg,^flex_bg")},
	{name: "bigalloc-20G", size: 20 << 30, fsType: "ext4", args: []string{"-O", "bigalloc"}, edit: bigalloc(20<<30, 0, 0, "")},
	{name: "bigalloc-orphan_file", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc,orphan_file"},
		edit: bigalloc(1<<30, 0, 0, "orphan_file")},
	{name: "bigalloc-orphan_file-1k", size: 256 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc,orphan_file", "-C", "8192"},
		edit: bigalloc(256<<20, 1024, 8192, "orphan_file")},
	{name: "bigalloc-inline_data", size: 256 << 20, fsType: "ext4", args: []string{"-O", "bigalloc,inline_data"},
		edit: bigalloc(256<<20, 0, 0, "inline_data")},
	{name: "bigalloc-inline_data-1k", size: 64 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc,inline_data", "-C", "4096"},
		edit: bigalloc(64<<20, 1024, 4096, "inline_data")},
	{name: "bigalloc-1k-C2K-groups", size: 1 << 30, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc", "-C", "2048"},
		edit: bigalloc(1<<30, 1024, 2048, "")},
	{name: "bigalloc-meta_bg-sparse_super2", size: 4 << 30, fsType: "ext4", args: []string{"-b", "2048", "-O", "bigalloc,meta_bg,^resize_inode,sparse_super2", "-C", "4096"},
		edit: bigalloc(4<<30, 2048, 4096, "meta_bg,^resize_inode,sparse_super2")},
	{name: "bigalloc-b65536", size: 2 << 30, fsType: "ext4", args: []string{"-b", "65536", "-O", "bigalloc"}, edit: bigalloc(2<<30, 65536, 0, "")},
	{name: "bigalloc-J-leaf", size: 8 << 30, fsType: "ext4", args: []string{"-O", "bigalloc", "-C", "16384", "-J", "size=700"},
		edit: func(p *MkfsParams) error { p.JournalBlocks = 700 << 8; return bigalloc(8<<30, 0, 16384, "")(p) }},
	{name: "bigalloc-5T-big", size: 5 << 40, fsType: "ext4", args: []string{"-O", "bigalloc"}, edit: bigalloc(5<<40, 0, 0, ""), big: true},
	{name: "root-owner", size: 256 << 20, fsType: "ext4", eopts: ",root_owner=1000:100",
		edit: func(p *MkfsParams) error { p.RootUID, p.RootGID = 1000, 100; return nil }},
	{name: "quota", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota"}, edit: features("quota")},
	{name: "quota-1k", size: 256 << 20, fsType: "ext4", args: []string{"-O", "quota"}, edit: features("quota")},
	{name: "quota-project", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota,project"}, edit: features("quota,project")},
	{name: "quota-project-1k", size: 64 << 20, fsType: "ext4", args: []string{"-O", "quota,project"}, edit: features("quota,project")},
	{name: "quota-no-extent", size: 256 << 20, fsType: "ext4", args: []string{"-O", "quota,project,^extent,^64bit"}, edit: features("quota,project,^extent,^64bit")},
	{name: "quota-no-extent-4k", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota,^extent,^64bit"}, edit: features("quota,^extent,^64bit")},
	{name: "quota-nocsum", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota,project,^metadata_csum"}, edit: features("quota,project,^metadata_csum")},
	{name: "quota-ext3", size: 256 << 20, fsType: "ext3", args: []string{"-O", "quota"}, edit: features("quota")},
	{name: "quota-bigalloc", size: 1 << 30, fsType: "ext4", args: []string{"-O", "bigalloc,quota,project"}, edit: bigalloc(1<<30, 0, 0, "quota,project")},
	{name: "quota-bigalloc-1k", size: 256 << 20, fsType: "ext4", args: []string{"-b", "1024", "-O", "bigalloc,quota", "-C", "4096"},
		edit: bigalloc(256<<20, 1024, 4096, "quota")},
	{name: "quota-orphan_file", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota,project,orphan_file"}, edit: features("quota,project,orphan_file")},
	{name: "quota-root-owner", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota,project"}, eopts: ",root_owner=1000:100",
		edit: func(p *MkfsParams) error { p.RootUID, p.RootGID = 1000, 100; return p.SetFeatures("quota,project") }},
	{name: "quota-root-owner-1k", size: 256 << 20, fsType: "ext4", args: []string{"-O", "quota,project,^extent,^64bit"}, eopts: ",root_owner=1000:1000",
		edit: func(p *MkfsParams) error {
			p.RootUID, p.RootGID = 1000, 1000
			return p.SetFeatures("quota,project,^extent,^64bit")
		}},
	{name: "quotatype-usr", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota"}, eopts: ",quotatype=usrquota",
		edit: func(p *MkfsParams) error { p.QuotaTypes = QuotaUsrBit; return p.SetFeatures("quota") }},
	{name: "quotatype-grp-prj", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota"}, eopts: ",quotatype=grpquota:prjquota",
		edit: func(p *MkfsParams) error { p.QuotaTypes = QuotaGrpBit | QuotaPrjBit; return p.SetFeatures("quota") }},
	{name: "project-only", size: 1 << 30, fsType: "ext4", args: []string{"-O", "project"}, edit: features("project")},
	{name: "quota-I128", size: 1 << 30, fsType: "ext4", args: []string{"-O", "quota", "-I", "128"},
		edit: func(p *MkfsParams) error { p.InodeSize = 128; return p.SetFeatures("quota") }},
}

// mkfsWriteTree writes a directory and a file through our kernel,
// mounted read-write, and unmounts.
func mkfsWriteTree(t *testing.T, img string) {
	t.Helper()
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		if strings.Contains(k.Dmesg(), " r/o ") {
			t.Fatalf("mounted read-only:\n%s", k.Dmesg())
		}
		must("mkdir", k.Mkdirat(abi.AT_FDCWD, "/mnt/ours", 0o755))
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/ours/f", abi.O_CREAT|abi.O_WRONLY, 0o644)
		must("create", err)
		_, err = k.Write(fd, bytes.Repeat([]byte("0123456789abcdef"), 20000))
		must("write", err)
		must("close", k.Close(fd))
	})
}

// TestMkfsMounts mounts what Mkfs makes read-write with the host's
// kernel and with ours, writing a file each time, and checks the image
// with e2fsck after each.
func TestMkfsMounts(t *testing.T) {
	testutil.Need(t, "e2fsck")
	for _, c := range mkfsCases {
		if strings.HasPrefix(c.name, "J-") || c.big {
			continue // the journal's size changes nothing here
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			mkfsOurs(t, img, c)
			testutil.E2fsckClean(t, img)
			mkfsWriteTree(t, img)
			testutil.E2fsckClean(t, img)
			if strings.HasSuffix(c.name, "b65536") {
				return // Linux mounts blocks up to its page size (4 KiB here)
			}
			if _, err := os.Stat("/sys/fs/ext4/features/casefold"); err != nil && strings.HasPrefix(c.name, "casefold") {
				return // a kernel without CONFIG_UNICODE refuses the mount
			}
			testutil.NeedLoop(t)
			mnt := filepath.Join(dir, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			// A kernel without CONFIG_QUOTA mounts quota and project
			// images read-only: then it only reads.
			opts, rw := "loop", true
			if strings.Contains(strings.Join(c.args, " "), "quota") || strings.Contains(strings.Join(c.args, " "), "project") {
				if rw, _ = (testutil.Ext4Feature{Name: c.name, Opts: c.args}).HostMounts(t, true); !rw {
					opts = "loop,ro"
				}
			}
			testutil.Run(t, "mount", "-o", opts, img, mnt)
			var werr error
			if rw {
				werr = os.WriteFile(filepath.Join(mnt, "host"), bytes.Repeat([]byte("x"), 100000), 0o644)
			}
			got, rerr := os.ReadFile(filepath.Join(mnt, "ours", "f"))
			testutil.Run(t, "umount", mnt)
			if werr != nil || rerr != nil {
				t.Fatalf("host write: %v; host read: %v", werr, rerr)
			}
			if want := bytes.Repeat([]byte("0123456789abcdef"), 20000); !bytes.Equal(got, want) {
				t.Errorf("the host reads %d bytes of our file, not what we wrote", len(got))
			}
			testutil.E2fsckClean(t, img)
		})
	}
}

// TestMkfsNotZeroed makes filesystems on files full of random bytes
// (Zeroed false): what mke2fs would zero must be zeroed, the rest must
// not matter to e2fsck or the kernels.
func TestMkfsNotZeroed(t *testing.T) {
	testutil.Need(t, "e2fsck")
	rnd := rand.New(rand.NewSource(1))
	for _, c := range []mkfsCase{
		{name: "ext4", size: 48 << 20, fsType: "ext4"},
		{name: "ext4-4k", size: 48 << 20, fsType: "ext4", edit: blockSize(48<<20, 4096)},
		{name: "ext3", size: 48 << 20, fsType: "ext3"},
		{name: "ext2", size: 48 << 20, fsType: "ext2"},
		{name: "no-csum", size: 48 << 20, fsType: "ext4", edit: features("^metadata_csum")},
		{name: "bigalloc", size: 48 << 20, fsType: "ext4", edit: bigalloc(48<<20, 0, 0, "orphan_file")},
		{name: "bigalloc-4k", size: 48 << 20, fsType: "ext4", edit: bigalloc(48<<20, 4096, 0, "")},
		{name: "quota", size: 48 << 20, fsType: "ext4", edit: features("quota,project,orphan_file")},
		{name: "quota-no-extent", size: 48 << 20, fsType: "ext3", edit: features("quota")},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			junk := make([]byte, c.size)
			rnd.Read(junk)
			if err := os.WriteFile(img, junk, 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := DefaultMkfsParams(c.size, c.fsType)
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				if err := c.edit(&p); err != nil {
					t.Fatal(err)
				}
			}
			p.UUID = parseTestUUID(t, mkfsTestUUID)
			p.Time = mkfsTestTime
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = Mkfs(f, p)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			testutil.E2fsckClean(t, img)
			mkfsWriteTree(t, img)
			testutil.E2fsckClean(t, img)
			if out := dumpe2fsText(t, img); strings.Contains(out, "ITABLE_ZEROED") {
				t.Errorf("groups marked ITABLE_ZEROED on a device that was not zeroed")
			}
		})
	}
}

// TestMkfsRandomAgainstMke2fs draws parameters at random (a fixed seed)
// and requires mke2fs's image, byte for byte, whenever mke2fs makes one,
// and an error from Mkfs when mke2fs refuses.
// mkfsRandomRuns is kept small for the suite; 1500 runs over 5 seeds
// passed when it was written.
var mkfsRandomRuns = 40

func TestMkfsRandomAgainstMke2fs(t *testing.T) {
	testutil.Need(t, "mke2fs")
	rnd := rand.New(rand.NewSource(7))
	pick := func(xs ...string) string { return xs[rnd.Intn(len(xs))] }
	for i := range mkfsRandomRuns {
		size := int64(1+rnd.Intn(3000)) << 20
		switch rnd.Intn(8) {
		case 0, 1:
			size = int64(1+rnd.Intn(8000)) << 10
		case 2:
			size = int64(1+rnd.Intn(40)) << 30
		}
		c := mkfsCase{name: fmt.Sprint(i), size: size, fsType: pick("ext2", "ext3", "ext4", "ext4")}
		var edits []func(*MkfsParams) error
		add := func(args []string, e func(*MkfsParams) error) {
			c.args = append(c.args, args...)
			edits = append(edits, e)
		}
		if rnd.Intn(3) == 0 {
			bs := []uint32{1024, 2048, 4096, 65536}[rnd.Intn(4)]
			add([]string{"-b", fmt.Sprint(bs)}, blockSize(size, bs))
		}
		if rnd.Intn(3) == 0 {
			is := []uint16{128, 256, 512}[rnd.Intn(3)]
			add([]string{"-I", fmt.Sprint(is)}, func(p *MkfsParams) error { p.InodeSize = is; return nil })
		}
		if rnd.Intn(4) == 0 {
			n := uint32(16 + rnd.Intn(100000))
			add([]string{"-N", fmt.Sprint(n)}, func(p *MkfsParams) error { p.Inodes = n; return nil })
		}
		if rnd.Intn(6) == 0 {
			r := uint32(1024 << rnd.Intn(8))
			add([]string{"-i", fmt.Sprint(r)}, func(p *MkfsParams) error { p.InodeRatio = r; return nil })
		}
		if rnd.Intn(6) == 0 {
			add([]string{"-L", "lbl"}, func(p *MkfsParams) error { p.Label = "lbl"; return nil })
		}
		if rnd.Intn(4) == 0 {
			m := float64(rnd.Intn(20))
			add([]string{"-m", fmt.Sprint(m)}, func(p *MkfsParams) error { p.ReservedPercent = m; return nil })
		}
		var feats []string
		for _, f := range []string{"^has_journal", "^resize_inode", "^flex_bg", "^64bit", "^metadata_csum",
			"sparse_super2", "^dir_index", "^huge_file", "^extent,^64bit", "meta_bg,^resize_inode", "uninit_bg",
			"metadata_csum_seed", "large_dir", "^filetype", "^sparse_super,^resize_inode", "^ext_attr", "^dir_nlink",
			"^extra_isize", "orphan_file", "bigalloc", "quota", "project"} {
			if rnd.Intn(6) == 0 {
				feats = append(feats, f)
			}
		}
		if len(feats) > 0 {
			spec := strings.Join(feats, ",")
			add([]string{"-O", spec}, features(spec))
		}
		if slices.Contains(feats, "bigalloc") {
			if rnd.Intn(2) == 0 {
				cs := uint32(1500) << rnd.Intn(11)
				add([]string{"-C", fmt.Sprint(cs)}, func(p *MkfsParams) error { p.ClusterSize = cs; return nil })
			}
			if !slices.Contains(c.args, "-i") {
				// mke2fs's default inode ratio is at least a cluster.
				add(nil, func(p *MkfsParams) error { p.RaiseInodeRatio(); return nil })
			}
		}
		// -G only with flex_bg (mke2fs refuses it otherwise, a command
		// line check MkfsParams cannot see).
		if c.fsType == "ext4" && !slices.Contains(feats, "^flex_bg") && rnd.Intn(3) == 0 {
			g := uint32(1) << rnd.Intn(6)
			add([]string{"-G", fmt.Sprint(g)}, func(p *MkfsParams) error { p.FlexBGSize = g; return nil })
		}
		c.edit = func(p *MkfsParams) error {
			for _, e := range edits {
				if err := e(p); err != nil {
					return err
				}
			}
			return nil
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ref, ours := filepath.Join(dir, "ref.img"), filepath.Join(dir, "ours.img")
			os.WriteFile(ref, nil, 0o644)
			os.Truncate(ref, c.size)
			args := append([]string{"-q", "-F", "-t", c.fsType, "-U", mkfsTestUUID,
				"-E", "hash_seed=" + mkfsTestSeed + ",root_owner=0:0"}, c.args...)
			cmd := exec.Command("mke2fs", append(args, ref)...)
			cmd.Env = append(os.Environ(), fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d", mkfsTestTime), "MKE2FS_CONFIG=/etc/mke2fs.conf")
			out, refErr := cmd.CombinedOutput()
			p, err := testParams(t, c)
			if err == nil {
				f, ferr := os.Create(ours)
				if ferr != nil {
					t.Fatal(ferr)
				}
				f.Truncate(c.size)
				err = Mkfs(f, p)
				f.Close()
			}
			t.Logf("mke2fs -t %s %v (%d bytes): %v %s; Mkfs: %v", c.fsType, c.args, c.size, refErr, bytes.TrimSpace(out), err)
			switch {
			case refErr != nil && err == nil:
				t.Errorf("mke2fs refused, Mkfs did not")
			case refErr == nil && err != nil:
				t.Errorf("Mkfs refused, mke2fs did not")
			case refErr == nil:
				if d := testutil.DiffBlocks(t, ref, ours, 4096); len(d) > 0 {
					t.Errorf("%d blocks of 4 KiB differ: %v\n%s", len(d), d[:min(len(d), 20)],
						diffLines(dumpe2fsText(t, ref), dumpe2fsText(t, ours)))
				}
			}
		})
	}
}

// discardDev is a device that takes every write and keeps nothing.
type discardDev struct{ size int64 }

func (d discardDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > d.size {
		return 0, fmt.Errorf("write [%d, %d) beyond the device (%d)", off, off+int64(len(p)), d.size)
	}
	return len(p), nil
}

// FuzzMkfs: any parameters are refused with an error or laid out and
// written inside the device, without a panic.
func FuzzMkfs(f *testing.F) {
	f.Add(uint32(65536), uint8(0), uint16(256), uint32(0), uint32(4096), uint32(0x3c), uint32(0x2c2), uint32(0x46b), uint32(16), uint32(0), uint32(0), uint8(5))
	f.Add(uint32(3000), uint8(2), uint16(128), uint32(20), uint32(1024), uint32(0x234), uint32(0x10), uint32(0x3), uint32(0), uint32(1024), uint32(0), uint8(0))
	f.Add(uint32(100), uint8(0), uint16(1024), uint32(1000000), uint32(0), uint32(0xffffffff), uint32(0xffffffff), uint32(0xffffffff), uint32(3), uint32(1<<31), uint32(9999), uint8(60))
	f.Add(uint32(1<<20), uint8(3), uint16(512), uint32(0), uint32(65536), uint32(0x214), uint32(0x2d0), uint32(0x401), uint32(1<<31), uint32(4096), uint32(1), uint8(50))
	f.Fuzz(func(t *testing.T, blocks uint32, bsIdx uint8, isz uint16, inodes, ratio, compat, incompat, roCompat, flex, journal, rsvGdt uint32, reserved uint8) {
		bs := []uint32{1024, 2048, 4096, 65536, 512}[int(bsIdx)%5]
		if uint64(blocks)*uint64(bs) > 4<<30 {
			return // keep the bitmaps small
		}
		p := MkfsParams{FsType: "ext4", BlockSize: bs, Blocks: uint64(blocks), InodeSize: isz, Inodes: inodes,
			InodeRatio: ratio, ReservedPercent: float64(reserved), Compat: compat, Incompat: incompat, RoCompat: roCompat,
			JournalBlocks: journal, ReservedGDTBlocks: rsvGdt, FlexBGSize: flex, Label: "fuzz", Time: 1, Zeroed: true}
		sum, err := PlanMkfs(p)
		if err != nil {
			return
		}
		if sum.Blocks > p.Blocks || sum.Inodes == 0 {
			t.Fatalf("plan: %+v for %d blocks", sum, p.Blocks)
		}
		if err := Mkfs(discardDev{int64(p.Blocks) * int64(bs)}, p); err != nil {
			t.Fatalf("Mkfs after a plan: %v", err)
		}
	})
}

// TestMkfsLateTime: a time from 2038 on is kept in the inodes' epoch
// bits (the root and lost+found read it back), and a time ext4's
// superblock cannot hold is refused.
func TestMkfsLateTime(t *testing.T) {
	testutil.Need(t, "e2fsck")
	img := filepath.Join(t.TempDir(), "img")
	c := mkfsCase{size: 32 << 20, fsType: "ext4", edit: func(p *MkfsParams) error { p.Time = 3000000000; return nil }}
	mkfsOurs(t, img, c)
	testutil.E2fsckClean(t, img)
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		for _, name := range []string{".", "lost+found"} {
			var stx abi.Statx
			must("statx "+name, k.Statx(abi.AT_FDCWD, "/mnt/"+name, 0, abi.STATX_BASIC_STATS|abi.STATX_BTIME, &stx))
			want := abi.StatxTimestamp{Sec: 3000000000}
			if stx.Mtime != want || stx.Atime != want || stx.Ctime != want || stx.Btime != want {
				t.Errorf("%s: times %v %v %v %v, want %v", name, stx.Atime, stx.Mtime, stx.Ctime, stx.Btime, want)
			}
		}
	})
	testutil.E2fsckClean(t, img)
	p, _ := DefaultMkfsParams(32<<20, "ext4")
	p.Time = 1 << 32
	if err := Mkfs(discardDev{32 << 20}, p); err == nil {
		t.Errorf("Mkfs took the time 2^32")
	}
}

// TestMkfsInlineDataInode128: mke2fs refuses inline_data with 128-byte
// inodes, which have no room for system.data; so does Mkfs.
func TestMkfsInlineDataInode128(t *testing.T) {
	testutil.Need(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "img")
	cmd := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-O", "inline_data", "-I", "128", img, "64M")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("mke2fs made inline_data with 128-byte inodes: %s", out)
	}
	p, err := DefaultMkfsParams(64<<20, "ext4")
	if err != nil {
		t.Fatal(err)
	}
	p.InodeSize = 128
	if err := p.SetFeatures("inline_data"); err != nil {
		t.Fatal(err)
	}
	if _, err := planMkfs(p); !errors.Is(err, abi.EINVAL) {
		t.Errorf("Mkfs with inline_data and 128-byte inodes: %v, want EINVAL", err)
	}
}

// TestMkfsProjectInode128: mke2fs refuses project quota with 128-byte
// inodes, which have no i_projid, whether -O project or -E
// quotatype=prjquota asks for it; so does Mkfs, with its message.
func TestMkfsProjectInode128(t *testing.T) {
	testutil.Need(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "img")
	for _, c := range []struct {
		args []string
		edit func(*MkfsParams) error
	}{
		{[]string{"-O", "project"}, features("project")},
		{[]string{"-O", "quota", "-E", "quotatype=prjquota"},
			func(p *MkfsParams) error { p.QuotaTypes = QuotaPrjBit; return p.SetFeatures("quota") }},
	} {
		args := append([]string{"-q", "-F", "-t", "ext4", "-I", "128"}, c.args...)
		out, err := exec.Command("mke2fs", append(args, img, "64M")...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "128 byte inodes are too small for project quota") {
			t.Fatalf("mke2fs %v: %v %s", c.args, err, out)
		}
		p, err := DefaultMkfsParams(64<<20, "ext4")
		if err != nil {
			t.Fatal(err)
		}
		p.InodeSize = 128
		if err := c.edit(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := planMkfs(p); !errors.Is(err, abi.EINVAL) || !strings.Contains(err.Error(), "128 byte inodes are too small for project quota") {
			t.Errorf("Mkfs %v with 128-byte inodes: %v, want EINVAL as mke2fs's", c.args, err)
		}
	}
}
