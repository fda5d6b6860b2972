package virtio

import (
	"bytes"
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
		want := filepath.Join(dir, "s"+bs+".want")
		qemuImg(t, "simg2img", img, want)
		wantBytes, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		be, err := OpenImage(img, ImageOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := be.(*SparseFile); !ok || be.Size() != int64(len(wantBytes)) {
			t.Fatalf("block size %s: %T of %d bytes, want %d", bs, be, be.Size(), len(wantBytes))
		}
		if got := readAllOdd(t, be, r); !bytes.Equal(got, wantBytes) {
			t.Errorf("block size %s: the disk differs from simg2img's from byte %d", bs, firstDiff(got, wantBytes))
		}
		if got := sendAll(t, be, filepath.Join(dir, "s"+bs+".sent")); !bytes.Equal(got, wantBytes) {
			t.Errorf("block size %s: the disk sent differs from simg2img's from byte %d", bs, firstDiff(got, wantBytes))
		}
		be.Close()
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
