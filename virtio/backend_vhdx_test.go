package virtio

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestVhdx reads VHDX images qemu-img made: dynamic with 1, 8 and 32 MiB
// blocks, blocks of zeros left unallocated or not, and fixed; every
// guest byte, read and sent, must be what qemu-img convert -O raw gives.
func TestVhdx(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(4, 4))
	base := make([]byte, 40<<20+7*512)
	for off := 0; off < len(base); {
		n := min(len(base)-off, 512*(1+r.IntN(20000)))
		if r.IntN(3) == 0 {
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
		{"1m-blocks", "subformat=dynamic,block_size=1M"},
		{"32m-blocks", "subformat=dynamic,block_size=32M"},
		{"zero-state", "subformat=dynamic,block_state_zero=off"},
		{"fixed", "subformat=fixed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".vhdx")
			qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", c.opts, raw, img)
			checkGuest(t, img, &VhdxFile{}, rawOf(t, img, "qemu-img", "convert", "-f", "vhdx", "-O", "raw"), r)
		})
	}
	// Damage, on a small image: headers, region tables, metadata, BAT.
	small := filepath.Join(dir, "small.raw")
	if err := os.WriteFile(small, base[:2<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "small.vhdx")
	qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", small, img)
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	damaged(t, orig, "vhdx", 64<<10, 320<<10)
	damaged(t, orig, "vhdx", 2<<20, 4<<20)
	if _, err := OpenImage(img, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "reads but does not write yet") {
		t.Errorf("a VHDX image opened for writing: %v", err)
	}
}
