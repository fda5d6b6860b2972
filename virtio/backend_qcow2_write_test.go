package virtio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// qemuCheck runs qemu-img check on img and returns its exit status: 0
// clean, 2 corruption, 3 leaked clusters only.
func qemuCheck(t *testing.T, img string) (int, string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "check", img).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// mutate applies n random operations to be and the same to mirror (the
// guest disk as bytes): writes of random data of any length and offset
// (in several buffers), write zeroes and discards (which read as zeros
// after), and now and then a flush.
func mutate(t *testing.T, be Backend, mirror []byte, r *rand.Rand, n int) {
	t.Helper()
	size := int64(len(mirror))
	for range n {
		off := r.Int64N(size)
		var k int64
		switch r.IntN(4) {
		case 0:
			k = 1 + r.Int64N(512) // small, unaligned
		case 1:
			off &^= 4095
			k = 4096 * (1 + r.Int64N(64))
		default:
			k = 1 + r.Int64N(3<<20)
		}
		k = min(k, size-off)
		switch op := r.IntN(10); {
		case op < 7:
			data := make([]byte, k)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			if r.IntN(3) == 0 {
				clear(data[:k/2]) // zeros, which must be stored too
			}
			var bufs [][]byte
			for rest := data; len(rest) > 0; {
				m := min(len(rest), 1+r.IntN(200<<10))
				bufs = append(bufs, rest[:m])
				rest = rest[m:]
			}
			if err := be.WriteAt(bufs, off); err != nil {
				t.Fatalf("write %d bytes at %d: %v", k, off, err)
			}
			copy(mirror[off:], data)
		case op < 9:
			var err error
			if op == 7 {
				err = be.WriteZeroes(off, k)
			} else {
				err = be.Discard(off, k)
			}
			if err != nil {
				t.Fatalf("zero (%d) %d bytes at %d: %v", op, k, off, err)
			}
			clear(mirror[off : off+k])
		default:
			if err := be.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestQcow2Write writes qcow2 images qemu-img made, of every layout we
// write (version 2 and 3, clusters of 512 bytes to 2 MiB, refcounts of 1
// to 64 bits, compressed clusters overwritten, lazy refcounts, a backing
// file under the image, a refcount table that must grow, extended L2
// entries with their subclusters, over a backing file too): random writes,
// zeroes and discards, the same done to a copy of the guest disk in
// memory. Then qemu-img check finds no error and no leak, and qemu-img
// compare finds the image's disk equal to the copy; our reader too.
func TestQcow2Write(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(11, 17))
	base := make([]byte, 24<<20)
	for off := 0; off < len(base); off += 4096 * (1 + r.IntN(40)) {
		if r.IntN(2) == 0 {
			for i := off; i < min(len(base), off+4096); i++ {
				base[i] = byte(i*7 + off)
			}
		}
	}
	baseRaw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(baseRaw, base, 0o644); err != nil {
		t.Fatal(err)
	}
	fromBase := func(opts ...string) func(string) {
		return func(img string) {
			qemuImg(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, opts...), baseRaw, img)...)
		}
	}
	empty := func(opts string) func(string) {
		return func(img string) {
			qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, img, "24M")
		}
	}
	for _, c := range []struct {
		name string
		make func(img string)
	}{
		{"v3-64k-empty", empty("cluster_size=65536")},
		{"v3-64k", fromBase()},
		{"v2", fromBase("-o", "compat=0.10")},
		{"v2-empty", empty("compat=0.10")},
		{"512b-clusters", empty("cluster_size=512")},
		{"512b-clusters-1bit", empty("cluster_size=512,refcount_bits=1")},
		{"4k-clusters-2bit", fromBase("-o", "cluster_size=4096,refcount_bits=2")},
		{"2m-clusters", fromBase("-o", "cluster_size=2M")},
		{"refcount-64", fromBase("-o", "refcount_bits=64")},
		{"refcount-8", fromBase("-o", "refcount_bits=8,cluster_size=16384")},
		{"deflate", fromBase("-c")},
		{"zstd-4k", fromBase("-c", "-o", "compression_type=zstd,cluster_size=4096")},
		{"lazy-refcounts", fromBase("-o", "lazy_refcounts=on")},
		{"backing", func(img string) {
			qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", img)
		}},
		{"extended-l2", empty("extended_l2=on,cluster_size=131072")},
		{"extended-l2-data", fromBase("-o", "extended_l2=on,cluster_size=65536")},
		{"extended-l2-backing", func(img string) {
			qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=131072", "-b", "base.raw", "-F", "raw", img)
		}},
		{"backing-v2", func(img string) {
			qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw", img)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".qcow2")
			c.make(img)
			mirror := rawOf(t, img, "qemu-img", "convert", "-O", "raw")
			be, err := OpenImage(img, ImageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if be.ReadOnly() {
				t.Fatal("opened read-only")
			}
			mutate(t, be, mirror, r, 120)
			// Read back before closing: the cached tables agree.
			if got := readAllOdd(t, be, r); !bytes.Equal(got, mirror) {
				t.Errorf("read back differs from byte %d", firstDiff(got, mirror))
			}
			if err := be.Close(); err != nil {
				t.Fatal(err)
			}
			if code, out := qemuCheck(t, img); code != 0 {
				t.Fatalf("qemu-img check: exit %d\n%s", code, out)
			}
			want := img + ".mirror"
			if err := os.WriteFile(want, mirror, 0o644); err != nil {
				t.Fatal(err)
			}
			qemuImg(t, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", img, want)
			checkGuest(t, img, &Qcow2File{}, mirror, r)
		})
	}
}

// TestQcow2WriteRefused: what is not written is refused for writing, with
// why, and still read.
func TestQcow2WriteRefused(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	img := func(name string, opts ...string) string {
		p := filepath.Join(dir, name)
		qemuImg(t, "qemu-img", append(append([]string{"create", "-q", "-f", "qcow2"}, opts...), p, "8M")...)
		return p
	}
	setBit := func(p string, at int64, bit byte) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		f.ReadAt(b[:], at)
		b[0] |= bit
		f.WriteAt(b[:], at)
	}
	snap := img("snap.qcow2")
	qemuImg(t, "qemu-img", "snapshot", "-c", "s1", snap)
	dirty := img("dirty.qcow2", "-o", "lazy_refcounts=on")
	setBit(dirty, 79, 1) // incompatible_features bit 0
	corrupt := img("corrupt.qcow2")
	setBit(corrupt, 79, 2)
	// A refcount table said to be far larger than the file.
	huge := img("huge-refcount-table.qcow2")
	setBit(huge, 57, 0xff)
	for p, why := range map[string]string{
		snap:    "internal snapshots",
		dirty:   "refcounts are not up to date",
		corrupt: "marked it corrupt",
		huge:    "refcount table at",
	} {
		if be, err := OpenImage(p, ImageOptions{}); err == nil || !strings.Contains(err.Error(), why) {
			if err == nil {
				be.Close()
			}
			t.Errorf("%s opened for writing: %v, want %q", filepath.Base(p), err, why)
		}
		if p == corrupt || p == dirty || p == huge {
			continue
		}
		be, err := OpenImage(p, ImageOptions{ReadOnly: true})
		if err != nil {
			t.Errorf("%s read-only: %v", filepath.Base(p), err)
			continue
		}
		be.Close()
	}
}

// TestQcow2Kill9 kills a process writing a qcow2 image (random writes,
// small clusters so that refcount blocks and the refcount table are made
// as it goes) at random moments: qemu-img check never finds more than
// leaked clusters.
func TestQcow2Kill9(t *testing.T) {
	if img := os.Getenv("LKLIMG_QCOW2_WRITER"); img != "" {
		seed, _ := strconv.ParseUint(os.Getenv("LKLIMG_QCOW2_SEED"), 10, 64)
		be, err := OpenImage(img, ImageOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		mirror := make([]byte, be.Size())
		mutate(t, be, mirror, rand.New(rand.NewPCG(seed, 1)), 1<<30)
		return
	}
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	leaks := 0
	for i := range 12 {
		img := filepath.Join(dir, fmt.Sprintf("k%d.qcow2", i))
		opts := []string{"cluster_size=512", "cluster_size=4096,refcount_bits=4", "cluster_size=65536", "extended_l2=on,cluster_size=65536"}[i%4]
		qemuImg(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, img, "64M")
		cmd := exec.Command(os.Args[0], "-test.run=^TestQcow2Kill9$")
		cmd.Env = append(os.Environ(), "LKLIMG_QCOW2_WRITER="+img, "LKLIMG_QCOW2_SEED="+strconv.Itoa(i))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+i*37) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Errorf("writer %d: %s", i, stderr.String())
		}
		switch code, out := qemuCheck(t, img); code {
		case 0:
		case 3:
			leaks++
		default:
			t.Errorf("killed writer %d (%s): qemu-img check exit %d\n%s", i, opts, code, out)
		}
	}
	t.Logf("12 writers killed: %d images with leaked clusters, none corrupt", leaks)
}
