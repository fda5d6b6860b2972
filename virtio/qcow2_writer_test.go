package virtio

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/format/qcow2"
)

// TestQcow2Writer: an image qcow2.Writer makes of a disk with data that
// compresses and data that does not, clusters of zeros and a last
// partial cluster reads back, through this backend, as the disk it was
// given: plain, deflate and zstd compressed. With qemu-img here, it finds
// each image clean and equal to the disk. One worker or four make the
// same bytes.
func TestQcow2Writer(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	disk := make([]byte, 3*qcow2.WriterCluster*100+5*512)
	for c := 0; c < len(disk); c += qcow2.WriterCluster {
		switch r.IntN(4) {
		case 0: // zeros
		case 1: // text, which compresses
			for i := c; i < min(c+qcow2.WriterCluster, len(disk)); i++ {
				disk[i] = "lklimg qcow2 writer "[i%20]
			}
		default:
			for i := c; i < min(c+qcow2.WriterCluster, len(disk)); i++ {
				disk[i] = byte(r.Uint32())
			}
		}
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(raw, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name string, o qcow2.WriterOptions, chunk int) []byte {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := qcow2.NewWriter(f, uint64(len(disk)), o)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(disk); off += chunk {
			if err := w.WriteClusters(disk[off:min(off+chunk, len(disk))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	_, qemu := exec.LookPath("qemu-img")
	for _, comp := range []string{"", "deflate", "zstd"} {
		name := "w-" + comp + ".qcow2"
		img := write(name, qcow2.WriterOptions{Compression: comp, Workers: 4}, 16*qcow2.WriterCluster)
		if one := write("one-"+name, qcow2.WriterOptions{Compression: comp, Workers: 1}, qcow2.WriterCluster); !bytes.Equal(one, img) {
			t.Errorf("%q: one worker a cluster at a time and four workers 16 at a time differ", comp)
		}
		p := filepath.Join(dir, name)
		be, err := OpenImage(p, ImageOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAllOdd(t, be, r); !bytes.Equal(got, disk) {
			t.Errorf("%q: the image reads back differently from byte %d", comp, firstDiff(got, disk))
		}
		be.Close()
		if comp != "" && len(img) >= 3*qcow2.WriterCluster*75 {
			t.Errorf("%q: %d bytes: the text clusters were not compressed", comp, len(img))
		}
		if qemu == nil {
			qemuImg(t, "qemu-img", "check", p)
			qemuImg(t, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", p, raw)
		}
	}
}
