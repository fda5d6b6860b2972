package virtio

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/format/qcow2"
)

// TestQcow2Writer: an image qcow2.Writer makes of a disk with data,
// clusters of zeros and a last partial cluster reads back, through this
// backend, as the disk it was given.
func TestQcow2Writer(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	disk := make([]byte, 3*qcow2.WriterCluster*100+5*512)
	for c := 0; c < len(disk); c += qcow2.WriterCluster {
		if r.IntN(3) > 0 {
			for i := c; i < min(c+qcow2.WriterCluster, len(disk)); i++ {
				disk[i] = byte(r.Uint32())
			}
		}
	}
	p := filepath.Join(t.TempDir(), "w.qcow2")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := qcow2.NewWriter(f, uint64(len(disk)))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(disk); off += qcow2.WriterCluster {
		if err := w.WriteCluster(disk[off:min(off+qcow2.WriterCluster, len(disk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	be, err := OpenImage(p, ImageOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if got := readAllOdd(t, be, r); !bytes.Equal(got, disk) {
		t.Errorf("the image reads back differently from byte %d", firstDiff(got, disk))
	}
}
