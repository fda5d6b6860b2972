package erofs_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Damaged images: seeded mutations of small mkfs.erofs images (plain and
// LZ4 with compact and full indexes), each attached to a kernel, mounted
// with the type probed and exported whole as fs2tar would. Nothing may
// panic or hang (each has a deadline), and every failure must be an
// errno a reader can act on: EUCLEAN for damage (the reason naming the
// structure), EIO, EINVAL or EOPNOTSUPP for a superblock Linux refuses
// too, ENOENT/ENOTDIR/ELOOP for names that lead nowhere.

// smallTree writes a tree with a bit of everything an image holds.
func smallTree(t testing.TB) string {
	src := t.TempDir()
	var text strings.Builder
	for i := 0; text.Len() < 30000; i++ {
		text.WriteString(strings.Repeat("compressible ", i%7+1) + "\n")
	}
	files := map[string]string{"text": text.String(), "small": "hi\n", "sub/deep/x": "x", "sub/y": strings.Repeat("y", 5000)}
	testutil.WriteFiles(t, src, files, map[string]string{"user.shared": "same", "user.own": "value"})
	for i := range 200 {
		if err := os.WriteFile(filepath.Join(src, "sub", "file-"+strings.Repeat("z", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub/deep/x", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "small"), filepath.Join(src, "sub", "hard")); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestCorruptImages(t *testing.T) {
	testutil.Need(t, "mkfs.erofs", "setfattr")
	src := smallTree(t)
	counts := map[string]int{}
	for _, c := range []struct {
		name string
		args []string
		// gz names an image of testdata/mkfs19 (mkfs.erofs 1.9.3's).
		gz string
	}{
		{"plain", []string{"-x1"}, ""},
		{"lz4hc-compact", []string{"-zlz4hc", "-x1"}, ""},
		{"lz4-full-ztail", []string{"-zlz4", "-Elegacy-compress", "-Eztailpacking"}, ""},
		{"synthetic", nil, ""}, // synthImage's: deflate, zstd, lzma, fragments, HEAD2, dedupe, long prefixes
		{"48bit-extent-records", nil, "48bit-lz4"},
		{"48bit-chunks", nil, "48bit-chunks"},
		{"metabox", nil, "metabox"},
		{"metabox-zstd-fragments", nil, "metabox-zstd"},
		{"dot-omitted", nil, "dot-omitted"},
		{"extra-device", nil, "tar-index-flat"},
		{"512-byte-blocks", nil, "b512-lz4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var orig []byte
			if c.gz != "" {
				var err error
				if orig, err = os.ReadFile(testutil.Gunzip(t, filepath.Join(mkfs19Dir, c.gz+".img.gz"))); err != nil {
					t.Fatal(err)
				}
			} else if c.name == "synthetic" {
				orig = synthDamageImage(t)
			} else {
				var err error
				if orig, err = os.ReadFile(mkfsErofs(t, src, c.args...)); err != nil {
					t.Fatal(err)
				}
			}
			if err := kerneltest.ExportErr(writeImage(t, orig)); err != nil {
				t.Fatalf("the undamaged image: %v", err)
			}
			r := rand.New(rand.NewPCG(uint64(len(c.name)), 16))
			for i := range 100 {
				img := append([]byte(nil), orig...)
				for range 1 + r.IntN(4) {
					at := r.IntN(len(img))
					switch r.IntN(4) {
					case 0:
						// The superblock's fields.
						at = 1024 + r.IntN(128)
					case 1:
						// The metadata, at the start.
						at = r.IntN(min(len(img), 3*4096))
					}
					img[at] = byte(r.Uint32())
				}
				path := writeImage(t, img)
				done := make(chan error, 1)
				go func() { done <- kerneltest.ExportErr(path) }()
				select {
				case err := <-done:
					counts[kerneltest.ErrName(err)]++
					if err != nil && !kerneltest.DamageErr(err) {
						t.Errorf("mutation %d: unclear error %v", i, err)
					}
				case <-time.After(20 * time.Second):
					os.WriteFile(filepath.Join(os.TempDir(), "erofs-hang.img"), img, 0o644)
					t.Fatalf("mutation %d: mount and export still running after 20s", i)
				}
			}
		})
	}
	t.Logf("outcomes of the mutations: %v", counts)
}

// synthDamageImage is a synthetic image with every feature synthImage
// writes, small.
func synthDamageImage(t testing.TB) []byte {
	c := synthContents(3)
	return synthImage(t, synthBlock, true, []synthFile{
		{name: "deflate", alg: disk.CompressionDeflate, data: c["text"][:20000], head2: true, alg2: disk.CompressionZstd,
			xattrs: []synthXattr{{disk.XattrLongPrefix | 1, "x", "y"}, {disk.XattrIndexUser, "u", "v"}}},
		{name: "lzma", alg: disk.CompressionLZMA, data: c["mixed"], interlaced: true},
		{name: "prefix", alg: disk.CompressionDeflate, data: c["text"][:700], partialOf: "deflate"},
		{name: "tail", alg: disk.CompressionZstd, data: c["text"][:9000], frag: fragTail},
		{name: "whole", alg: disk.CompressionZstd, data: c["random"], frag: fragWhole},
		{name: "flat", flat: true, data: c["random"][:5000]},
	})
}

func writeImage(t testing.TB, b []byte) string {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A packed inode whose own data is a fragment of itself would have a
// read recurse for ever: it is EUCLEAN.
func TestPackedSelfLoop(t *testing.T) {
	c := synthContents(9)
	img := synthImage(t, synthBlock, false, []synthFile{{name: "whole", alg: disk.CompressionZstd, data: c["text"], frag: fragWhole},
		{name: "z", alg: disk.CompressionZstd, data: c["text"]}})
	sb, err := disk.DecodeSuperBlock(img[disk.SuperOffset:])
	if err != nil {
		t.Fatal(err)
	}
	// The packed inode made compressed, its one extent (all NONHEADs
	// back to lcluster 0) a fragment at offset 0 of itself.
	le := binary.LittleEndian
	pos := int(sb.MetaBlkAddr)*synthBlock + int(sb.PackedNid)*32
	size := int(le.Uint32(img[pos+8:]))
	le.PutUint16(img[pos:], disk.InodeCompressedFull<<1)
	le.PutUint32(img[pos+16:], 0)
	clear(img[pos+32 : pos+48])
	le.PutUint16(img[pos+32+4:], disk.AdviseFragmentPcluster)
	img[pos+32+6] = disk.CompressionZstd
	for l := range (size + synthBlock - 1) / synthBlock {
		idx := img[pos+48+8*l:]
		clear(idx[:8])
		if l == 0 {
			le.PutUint16(idx, disk.LclusterTypeHead1)
		} else {
			le.PutUint16(idx, disk.LclusterTypeNonhead)
			le.PutUint16(idx[4:], uint16(l))
		}
	}
	if err := kerneltest.ExportErr(writeImage(t, img)); !errors.Is(err, abi.EUCLEAN) {
		t.Errorf("export: %v, want EUCLEAN", err)
	}
}

// A directory entry naming the root (a cycle) ends the export with
// ELOOP, as the walk finds the root among the entry's ancestors.
func TestDirectoryCycle(t *testing.T) {
	c := synthContents(9)
	img := synthImage(t, synthBlock, false, []synthFile{{name: "loop", alg: disk.CompressionZstd, data: c["text"]}})
	sb, err := disk.DecodeSuperBlock(img[disk.SuperOffset:])
	if err != nil {
		t.Fatal(err)
	}
	// The root's third entry ("loop"), inline after the root inode: nid
	// 0 (the root), a directory.
	de := img[int(sb.MetaBlkAddr)*synthBlock+32+2*disk.DirentSize:]
	clear(de[:8])
	de[10] = disk.FTDir
	done := make(chan error, 1)
	go func() { done <- kerneltest.ExportErr(writeImage(t, img)) }()
	select {
	case err := <-done:
		if !errors.Is(err, abi.ELOOP) {
			t.Errorf("export: %v, want ELOOP", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the export of a directory cycle still running after 20s")
	}
}
