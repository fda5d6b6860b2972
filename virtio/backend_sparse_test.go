package virtio

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestSparse reads Android sparse images img2simg made of a disk with
// random data, zeros and runs of a repeated 32-bit value (raw, don't-care
// and fill chunks), with 4 KiB and 1 KiB blocks: every byte, read and
// sent, must be what simg2img gives back.
func TestSparse(t *testing.T) {
	testutil.Need(t, "img2simg", "simg2img")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(2, 8))
	base := make([]byte, 6<<20)
	for off := 0; off < len(base); {
		n := min(len(base)-off, 4096*(1+r.IntN(40)))
		switch r.IntN(3) {
		case 0:
			for i := off; i < off+n; i++ {
				base[i] = byte(r.Uint32())
			}
		case 1:
			v := r.Uint32()
			for i := off; i+4 <= off+n; i += 4 {
				binary.LittleEndian.PutUint32(base[i:], v)
			}
		}
		off += n
	}
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, base, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bs := range []string{"4096", "1024"} {
		img := filepath.Join(dir, "s"+bs+".simg")
		qemuImg(t, "img2simg", raw, img, bs)
		checkGuest(t, img, &SparseFile{}, rawOf(t, img, "simg2img"), r)
		orig, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		damaged(t, orig, "android-sparse", 0, 200)
	}
	if _, err := OpenImage(filepath.Join(dir, "s4096.simg"), ImageOptions{}); err == nil ||
		!strings.Contains(err.Error(), "reads but does not write yet") || !strings.Contains(err.Error(), "simg2img") {
		t.Errorf("an Android sparse image opened for writing: %v", err)
	}
}
