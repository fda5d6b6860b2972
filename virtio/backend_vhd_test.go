package virtio

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestVhd reads VHD images qemu-img made: dynamic and fixed, sized by
// their geometry (qemu-img's default, as Virtual PC) or by their current
// size (force_size, as Hyper-V); every guest byte, read and sent, must be
// what qemu-img convert -O raw gives.
func TestVhd(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 5))
	base := make([]byte, 9<<20+12345*512)
	for off := 0; off < len(base); {
		n := min(len(base)-off, 512*(1+r.IntN(9000)))
		if r.IntN(2) == 0 {
			for i := off; i < off+n; i++ {
				base[i] = byte(r.Uint32())
			}
		}
		off += n
	}
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, base, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, opts string }{
		{"dynamic", "subformat=dynamic"},
		{"fixed", "subformat=fixed"},
		{"dynamic-force-size", "subformat=dynamic,force_size=on"},
		{"fixed-force-size", "subformat=fixed,force_size=on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".vhd")
			qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", c.opts, raw, img)
			checkGuest(t, img, &VhdFile{}, rawOf(t, img, "qemu-img", "convert", "-f", "vpc", "-O", "raw"), r)
		})
	}
	// Damage, on small images: the footer, and a dynamic disk's header
	// and table.
	small := filepath.Join(dir, "small.raw")
	if err := os.WriteFile(small, base[:1<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"dynamic", "fixed"} {
		img := filepath.Join(dir, "small-"+sub+".vhd")
		qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat="+sub, small, img)
		orig, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		damaged(t, orig, "vpc", -512, 0)
		if sub == "dynamic" {
			damaged(t, orig, "vpc", 512, 3072)
		}
	}
	if _, err := OpenImage(filepath.Join(dir, "dynamic.vhd"), ImageOptions{}); err == nil ||
		!strings.Contains(err.Error(), "reads but does not write yet") {
		t.Errorf("a VHD image opened for writing: %v", err)
	}
}
