package virtio

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestVmdk reads VMDK disks qemu-img made in each subformat it writes
// (one sparse file, stream-optimized with compressed grains, a
// descriptor and a flat extent, split sparse and flat extents, VMware 6
// and zeroed-grain variants): every guest byte must be what qemu-img
// convert -O raw gives, read and sent.
func TestVmdk(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 9))
	base := make([]byte, 7<<20+512*3)
	for off := 0; off < len(base); {
		n := min(len(base)-off, 512*(1+r.IntN(600)))
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
		{"monolithicSparse", "subformat=monolithicSparse"},
		{"streamOptimized", "subformat=streamOptimized"},
		{"monolithicFlat", "subformat=monolithicFlat"},
		{"twoGbMaxExtentSparse", "subformat=twoGbMaxExtentSparse"},
		{"twoGbMaxExtentFlat", "subformat=twoGbMaxExtentFlat"},
		{"vmdk6-zeroed", "subformat=monolithicSparse,compat6=on,zeroed_grain=on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".vmdk")
			qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", c.opts, raw, img)
			checkGuest(t, img, &VmdkFile{}, rawOf(t, img, "qemu-img", "convert", "-O", "raw"), r)
		})
	}
	for _, name := range []string{"monolithicSparse", "streamOptimized"} {
		orig, err := os.ReadFile(filepath.Join(dir, name+".vmdk"))
		if err != nil {
			t.Fatal(err)
		}
		damaged(t, orig, "vmdk", 0, 1024)
	}
	if _, err := OpenImage(filepath.Join(dir, "monolithicSparse.vmdk"), ImageOptions{}); err == nil ||
		!strings.Contains(err.Error(), "reads but does not write yet") {
		t.Errorf("a VMDK disk opened for writing: %v", err)
	}
}
