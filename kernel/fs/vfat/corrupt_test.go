package vfat

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// Damaged images: seeded mutations of small FAT12, FAT16 and FAT32
// images (the boot sector, the FATs, directories, data), each mounted and
// walked whole through the driver. Nothing may panic or hang: every
// damage is an error or a tree that reads.

// memDev is an image in memory.
type memDev = vfstest.Mem

// smallImage makes a FAT image with a few files and directories, long
// names among them.
func smallImage(t *testing.T, size string, args ...string) []byte {
	testutil.Need(t, "mkfs.fat", "mcopy", "mmd")
	dir := t.TempDir()
	img := filepath.Join(dir, "fat.img")
	if err := exec.Command("truncate", "-s", size, img).Run(); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.fat", append(args, img)...)
	src := filepath.Join(dir, "src")
	for i, n := range []string{"a.txt", "Long File Name.data", "sub/inner.bin", "sub/deeper/x", "sub/deeper/Ünïcode.txt"} {
		p := filepath.Join(src, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, i*3000+10), 0o644)
	}
	cmd := exec.Command("mcopy", "-s", "-i", img, filepath.Join(src, "a.txt"), filepath.Join(src, "Long File Name.data"), filepath.Join(src, "sub"), "::")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LANG=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// walk reads everything under ip; errors are fine, panics are not.
func walk(ip vfs.Inode, depth int) {
	if depth > 8 {
		return
	}
	ip.Getattr()
	if r, ok := ip.(vfs.FileReader); ok {
		buf := make([]byte, 4096)
		for off := int64(0); off < 1<<20; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				break
			}
		}
	}
	d, ok := ip.(*inode)
	if !ok || !d.dir {
		return
	}
	var names []string
	d.ReadDirDots(0, func(e vfs.DirEntry) bool {
		if e.Name != "." && e.Name != ".." {
			names = append(names, e.Name)
		}
		return len(names) < 1000
	})
	for _, n := range names {
		if c, err := d.Lookup(n); err == nil {
			walk(c, depth+1)
		}
	}
}

func TestCorruptImages(t *testing.T) {
	for _, c := range []struct {
		name, size string
		args       []string
	}{
		{"fat12", "1M", []string{"-F", "12"}},
		{"fat16", "16M", []string{"-F", "16", "-s", "1", "-r", "16"}},
		{"fat32", "40M", []string{"-F", "32", "-s", "1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := smallImage(t, c.size, c.args...)
			b, _ := fsType{}.Mount(memDev(orig), 1, "", nil)
			if b == nil {
				t.Fatal("the undamaged image does not mount")
			}
			sb := b.(*fsys)
			// Where to hit: the boot sector, the FATs, the root, data.
			spots := []int64{0, int64(sb.FATStart) * int64(sb.SectorSize), int64(sb.RootStart) * int64(sb.SectorSize),
				sb.ClusterOffset(2), sb.ClusterOffset(3), sb.ClusterOffset(4)}
			r := rand.New(rand.NewPCG(uint64(len(c.name)), 9))
			for range 400 {
				img := append(memDev(nil), orig...)
				for range 1 + r.IntN(6) {
					at := spots[r.IntN(len(spots))] + r.Int64N(2048)
					if at < int64(len(img)) {
						img[at] = byte(r.Uint32())
					}
				}
				sb, err := fsType{}.Mount(img, 1, "", nil)
				if err != nil {
					continue
				}
				if root, err := sb.Root(); err == nil {
					walk(root, 0)
				}
				sb.Statfs()
			}
		})
	}
}
