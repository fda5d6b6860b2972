package virtio

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/format/qcow2"
	"github.com/lklimg/lklimg/internal/testutil"
)

// qemuImg runs qemu-img (or qemu-io) with args, failing the test if it
// fails.
func qemuImg(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// readAllOdd reads the whole disk of be in requests of odd sizes made of
// buffers of odd sizes, as the page cache's requests may be.
func readAllOdd(t *testing.T, be Backend, r *rand.Rand) []byte {
	t.Helper()
	out := make([]byte, be.Size())
	for off := int64(0); off < be.Size(); {
		n := min(be.Size()-off, int64(1+r.IntN(300<<10)))
		var bufs [][]byte
		for rest := out[off : off+n]; len(rest) > 0; {
			k := min(len(rest), 1+r.IntN(70<<10))
			bufs = append(bufs, rest[:k])
			rest = rest[k:]
		}
		if err := be.ReadAt(bufs, off); err != nil {
			t.Fatalf("read %d bytes at %d: %v", n, off, err)
		}
		off += n
	}
	return out
}

// firstDiff is the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// sendAll sends the whole disk of be to a new file at path by SendTo,
// reading what it does not send (as fs2tar does), and returns the file.
func sendAll(t *testing.T, be Backend, path string) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for off := int64(0); off < be.Size(); {
		k, err := be.(Sender).SendTo(f, off, be.Size()-off)
		if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("send at %d: %v", off, err)
		}
		off += k
		if k == 0 && off < be.Size() {
			n := min(int64(len(buf)), be.Size()-off)
			if err := be.ReadAt([][]byte{buf[:n]}, off); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				t.Fatal(err)
			}
			off += n
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawOf returns the disk of img as a raw image, written by the tool and
// arguments of convert (qemu-img convert -O raw, simg2img) given img and
// the output's name after them.
func rawOf(t *testing.T, img string, convert ...string) []byte {
	t.Helper()
	out := img + ".want"
	qemuImg(t, convert[0], append(convert[1:], img, out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGuest opens img, probed, as a backend of like's type, and checks
// its disk, read in pieces of odd sizes and sent (SendTo), against want.
func checkGuest(t *testing.T, img string, like Backend, want []byte, r *rand.Rand) {
	t.Helper()
	be, err := OpenImage(img, ImageOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if reflect.TypeOf(be) != reflect.TypeOf(like) || be.Size() != int64(len(want)) {
		t.Fatalf("%s: %T of %d bytes, want %T of %d", img, be, be.Size(), like, len(want))
	}
	if got := readAllOdd(t, be, r); !bytes.Equal(got, want) {
		t.Errorf("%s: the guest disk differs from the oracle's from byte %d", img, firstDiff(got, want))
	}
	if got := sendAll(t, be, img+".sent"); !bytes.Equal(got, want) {
		t.Errorf("%s: the guest disk sent differs from the oracle's from byte %d", img, firstDiff(got, want))
	}
}

// TestQcow2 reads qcow2 images qemu-img made, of every layout: version 2
// and 3, clusters of 512 bytes to 2 MiB, deflate and zstd compression,
// extended L2 entries, zero clusters, chains of backing files written to
// by qemu-io (subclusters included); every guest byte must be what
// qemu-img convert -O raw gives, read and sent (SendTo).
func TestQcow2(t *testing.T) {
	testutil.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	// A base disk of 9 MiB: random runs, zero runs and holes.
	base := make([]byte, 9<<20)
	for off := 0; off < len(base); {
		n := min(len(base)-off, 4096*(1+r.IntN(80)))
		switch r.IntN(3) {
		case 0:
			for i := off; i < off+n; i++ {
				base[i] = byte(r.Uint32())
			}
		case 1:
			for i := off; i < off+n; i++ {
				base[i] = byte(i / 4096)
			}
		}
		off += n
	}
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, base, 0o644); err != nil {
		t.Fatal(err)
	}
	conv := func(name string, opts ...string) string {
		p := filepath.Join(dir, name)
		qemuImg(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, opts...), raw, p)...)
		return p
	}
	// Chains: an overlay on the raw base, written by qemu-io, and one on
	// that; with extended L2, writes of single subclusters.
	chain := func(name string, extended bool) string {
		o := "cluster_size=65536"
		if extended {
			o = "extended_l2=on,cluster_size=131072"
		}
		mid := filepath.Join(dir, name+"-mid.qcow2")
		qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", o, "-b", "base.raw", "-F", "raw", mid)
		qemuImg(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0xab 70k 5k", "-c", "write -z 1M 256k",
			"-c", "write -P 0x11 3M 4k", "-c", "write -P 0x22 8M 1M", mid)
		top := filepath.Join(dir, name+"-top.qcow2")
		qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", o, "-b", filepath.Base(mid), "-F", "qcow2", top, "12M")
		qemuImg(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 72k 4k", "-c", "write -z 8M 8k",
			"-c", "write -P 0x44 10M 100k", top)
		return top
	}
	images := map[string]string{
		"v3-64k":         conv("v3.qcow2"),
		"v2":             conv("v2.qcow2", "-o", "compat=0.10"),
		"512b-clusters":  conv("c512.qcow2", "-o", "cluster_size=512"),
		"2m-clusters":    conv("c2m.qcow2", "-o", "cluster_size=2M"),
		"deflate":        conv("deflate.qcow2", "-c"),
		"zstd":           conv("zstd.qcow2", "-c", "-o", "compression_type=zstd"),
		"deflate-4k":     conv("deflate4k.qcow2", "-c", "-o", "cluster_size=4096"),
		"extended-l2":    conv("ext.qcow2", "-o", "extended_l2=on,cluster_size=128k"),
		"chain":          chain("chain", false),
		"chain-extended": chain("chainx", true),
	}
	for name, img := range images {
		t.Run(name, func(t *testing.T) {
			checkGuest(t, img, &Qcow2File{}, rawOf(t, img, "qemu-img", "convert", "-O", "raw"), r)
		})
	}
	// Made anew, cut or grown is refused, and says how to get a raw
	// image (writing in place: backend_qcow2_write_test.go).
	if _, err := OpenImage(images["v3-64k"], ImageOptions{Size: 64 << 20}); err == nil || !strings.Contains(err.Error(), "qemu-img convert -O raw") {
		t.Errorf("a qcow2 image opened to grow: %v", err)
	}
}

// TestQcow2Damage: qcow2 images with broken headers and tables are
// refused at open or give errors when read, never a panic; a missing
// backing file is named.
func TestQcow2Damage(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "d.raw")
	data := bytes.Repeat([]byte("lklimg qcow2 "), 400000)
	if err := os.WriteFile(raw, data[:4<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.qcow2")
	qemuImg(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", raw, good)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	damaged(t, orig, "qcow2", 0, 112)
	over := filepath.Join(dir, "over.qcow2")
	qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "d.raw", "-F", "raw", over)
	os.Remove(raw)
	if _, err := OpenImage(over, ImageOptions{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "its backing file") {
		t.Errorf("a missing backing file: %v", err)
	}
	if _, err := qcow2.DecodeHeader(orig[:50], int64(len(orig))); !errors.Is(err, qcow2.ErrCorrupt) {
		t.Errorf("a short header: %v", err)
	}
}

// damaged opens 300 copies of the image orig, in format, each with a few
// bytes flipped (half the time in the bytes [hot, hotEnd) where its
// metadata is, counted from the end when negative; else anywhere), and
// reads the first 8 MiB of what opens: errors, never a panic or a hang.
func damaged(t *testing.T, orig []byte, format string, hot, hotEnd int) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	bad := filepath.Join(t.TempDir(), "bad."+format)
	opened, failed := 0, 0
	for i := 0; i < 300; i++ {
		b := bytes.Clone(orig)
		for j := 0; j < 1+r.IntN(4); j++ {
			at := r.IntN(len(b))
			if r.IntN(2) == 0 {
				lo, hi := hot, hotEnd
				if lo < 0 {
					lo += len(b)
				}
				if hi <= 0 {
					hi += len(b)
				}
				lo, hi = max(lo, 0), min(hi, len(b))
				at = lo + r.IntN(max(hi-lo, 1))
			}
			b[at] ^= byte(1 + r.IntN(255))
		}
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		be, err := OpenImage(bad, ImageOptions{ReadOnly: true, Format: format})
		if err != nil {
			continue
		}
		opened++
		buf := make([]byte, 1<<20)
		for off := int64(0); off < min(be.Size(), 8<<20); off += int64(len(buf)) {
			if be.ReadAt([][]byte{buf[:min(int64(len(buf)), be.Size()-off)]}, off) != nil {
				failed++
				break
			}
		}
		be.Close()
	}
	t.Logf("300 damaged %s images: %d opened, %d of them failed a read", format, opened, failed)
}
