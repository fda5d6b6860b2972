package isofs

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// walk reads everything under ip, as an export does; errors are fine,
// panics and endless loops are not (depth and reads are bounded).
func walk(ip vfs.Inode, depth int) {
	if depth > 12 {
		return
	}
	ip.Getattr()
	in := ip.(*inode)
	if l, ok := ip.(vfs.Readlinker); ok && in.mode&0o170000 == 0o120000 {
		l.Readlink()
	}
	if in.mode&0o170000 == 0o100000 {
		buf := make([]byte, 16<<10)
		for off := int64(0); off < 1<<20; off += int64(len(buf)) {
			if _, err := in.ReadAt(buf, off); err != nil {
				break
			}
		}
	}
	if in.mode&0o170000 != 0o040000 {
		return
	}
	var names []string
	in.ReadDir(0, func(e vfs.DirEntry) bool {
		names = append(names, e.Name)
		return len(names) < 200
	})
	for _, n := range names {
		if c, err := in.Lookup(n); err == nil {
			walk(c, depth+1)
		}
	}
}

// FuzzImage mounts a small image (Rock Ridge, Joliet, zisofs, a
// relocated directory, a symlink) with the input's patches applied
// (each 5 bytes: an offset into the image's metadata, a value), under
// each naming, and walks it whole.
func FuzzImage(f *testing.F) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		f.Skip("xorriso is not installed")
	}
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	deep := filepath.Join(src, "1/2/3/4/5/6/7/8/9")
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(deep, "f"), []byte("deep"), 0o644)
	os.WriteFile(filepath.Join(src, "z.txt"), []byte(strings.Repeat("zisofs ", 9000)), 0o644)
	os.WriteFile(filepath.Join(src, "A Long Name.txt"), []byte("x"), 0o644)
	os.Symlink("1/2/../z.txt", filepath.Join(src, "link"))
	img := filepath.Join(dir, "f.iso")
	out, err := exec.Command("xorriso", "-report_about", "FATAL", "-outdev", img, "-joliet", "on",
		"-compliance", "deep_paths_off", "-rr_reloc_dir", "RR_MOVED", "-zisofs", "default",
		"-map", src, "/", "-find", "/z.txt", "-exec", "set_filter", "--zisofs", "--").CombinedOutput()
	if err != nil {
		f.Fatalf("xorriso: %v\n%s", err, out)
	}
	base, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	// The metadata: from the descriptors to the first file's data.
	meta := int64(len(base)) - 16*2048
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0})
	for _, off := range []uint32{156, 2048 + 156, 4*2048 + 2, 8 * 2048} {
		p := make([]byte, 5)
		binary.LittleEndian.PutUint32(p, off)
		p[4] = 0xff
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, patches []byte) {
		work := append(vfstest.Mem(nil), base...)
		for p := patches; len(p) >= 5; p = p[5:] {
			off := 16*2048 + int64(binary.LittleEndian.Uint32(p))%meta
			work[off] = p[4]
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, opts := range []string{"", "norock", "norock,nojoliet"} {
				sb, err := fsType{}.Mount(work, 1, opts, nil)
				if err != nil {
					continue
				}
				root, err := sb.Root()
				if err == nil {
					walk(root, 0)
				}
				sb.Statfs()
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("patches % x: the walk hangs", patches)
		}
	})
}
