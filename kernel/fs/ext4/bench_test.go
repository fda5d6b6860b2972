//go:build linux

package ext4

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// benchImage builds an image with one 64 MiB file and 2000 small files in
// 20 directories.
func benchImage(b *testing.B) string {
	b.Helper()
	tools := testutil.Need(b, "mkfs.ext4")
	src := b.TempDir()
	r := rand.New(rand.NewSource(2))
	big := make([]byte, 64<<20)
	r.Read(big)
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		b.Fatal(err)
	}
	for d := 0; d < 20; d++ {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", d))
		os.Mkdir(dir, 0o755)
		for i := 0; i < 100; i++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%03d", i)), bytes.Repeat([]byte{byte(i)}, 100+i*97), 0o644)
		}
	}
	img := filepath.Join(b.TempDir(), "bench.img")
	testutil.Run(b, tools[0], "-q", "-F", "-d", src, img, "1G")
	return img
}

func BenchmarkReadBigFile(b *testing.B) {
	img := benchImage(b)
	sb, err := NewType().Mount(openDev(b, img), abi.MS_RDONLY, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	ip, err := lookupPath(sb, "big")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		r := ip.(vfs.FileReader)
		for off := int64(0); off < 64<<20; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWalkSmallFiles(b *testing.B) {
	img := benchImage(b)
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		sb, err := NewType().Mount(openDev(b, img), abi.MS_RDONLY, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		root, _ := sb.Root()
		ents, _ := readDirAll(root)
		for _, e := range ents {
			d, err := root.(vfs.Lookuper).Lookup(e.Name)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := d.(vfs.DirReader); !ok {
				continue
			}
			files, _ := readDirAll(d)
			for _, fe := range files {
				f, err := d.(vfs.Lookuper).Lookup(fe.Name)
				if err != nil {
					b.Fatal(err)
				}
				f.Getattr()
				f.(vfs.Xattrer).Listxattr()
				f.(vfs.FileReader).ReadAt(buf, 0)
			}
		}
		sb.Unmount()
	}
}
