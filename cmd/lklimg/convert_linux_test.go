package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestConvert: lklimg convert writes the disk of a qcow2 (compressed, and
// an overlay on a raw base), VMDK and VHDX image as the raw image qemu-img
// convert -O raw writes, byte for byte, with its zeros left as holes; with
// -O qcow2 (and -c, deflate or zstd) an image qemu-img checks clean and
// finds equal to the source; with -O android-sparse one simg2img expands
// to the source; an unknown output format and a missing source are
// refused.
func TestConvert(t *testing.T) {
	testutil.Need(t, "qemu-img", "mkfs.ext4")
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	src, _ := testutil.NewTree(t)
	testutil.MkfsExt4(t, raw, src, "48M")
	for name, args := range map[string][]string{
		"zstd.qcow2":    {"convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", raw},
		"overlay.qcow2": {"create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw},
		"stream.vmdk":   {"convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw},
		"disk.vhdx":     {"convert", "-f", "raw", "-O", "vhdx", raw},
	} {
		img := filepath.Join(dir, name)
		testutil.Run(t, "qemu-img", append(args, img)...)
		want := filepath.Join(dir, name+".want")
		testutil.Run(t, "qemu-img", "convert", "-O", "raw", img, want)
		got := filepath.Join(dir, name+".raw")
		if r := runCmd(t, exec.Command(lklimgBin, "convert", img, got)); r.code != exitOK || r.stderr != "" {
			t.Fatalf("convert %s: exit %d, %s", name, r.code, r.stderr)
		}
		a, _ := os.ReadFile(got)
		b, _ := os.ReadFile(want)
		if !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s: lklimg convert's raw image (%d bytes) differs from qemu-img's (%d)", name, len(a), len(b))
		}
		var st syscall.Stat_t
		if err := syscall.Stat(got, &st); err != nil || st.Blocks*512 >= st.Size {
			t.Errorf("%s: the raw image has no holes (%d of %d bytes allocated)", name, st.Blocks*512, st.Size)
		}
	}
	// -O qcow2, plain and compressed: qemu-img check finds no error or
	// leak, and the disk is the source's; converted back, the same raw
	// image.
	for i, srcImg := range []string{raw, filepath.Join(dir, "stream.vmdk"), raw, raw} {
		q := srcImg + ".out" + strconv.Itoa(i) + ".qcow2"
		args := [][]string{nil, nil, {"-c"}, {"-c", "-o", "compression_type=zstd"}}[i]
		if r := runCmd(t, exec.Command(lklimgBin, append(append([]string{"convert", "-O", "qcow2"}, args...), srcImg, q)...)); r.code != exitOK || r.stderr != "" {
			t.Fatalf("convert -O qcow2 %q %s: exit %d, %s", args, srcImg, r.code, r.stderr)
		}
		if info, _ := exec.Command("qemu-img", "info", q).CombinedOutput(); len(args) == 3 && !strings.Contains(string(info), "compression type: zstd") {
			t.Errorf("%s: not zstd:\n%s", q, info)
		}
		if out, err := exec.Command("qemu-img", "check", q).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors were found") {
			t.Errorf("qemu-img check of %s: %v\n%s", q, err, out)
		}
		if out, err := exec.Command("qemu-img", "compare", raw, q).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare %s: %v\n%s", q, err, out)
		}
		back := q + ".raw"
		if r := runCmd(t, exec.Command(lklimgBin, "convert", q, back)); r.code != exitOK {
			t.Fatalf("convert %s back: exit %d, %s", q, r.code, r.stderr)
		}
		a, _ := os.ReadFile(back)
		b, _ := os.ReadFile(raw)
		if !bytes.Equal(a, b) {
			t.Errorf("%s converted to qcow2 and back differs from the source", srcImg)
		}
	}
	// -O android-sparse: simg2img expands it to the source, and it is
	// no larger than img2simg's of the same disk.
	t.Run("android-sparse", func(t *testing.T) {
		testutil.Need(t, "simg2img", "img2simg")
		simg := filepath.Join(dir, "out.simg")
		if r := runCmd(t, exec.Command(lklimgBin, "convert", "-O", "android-sparse", raw, simg)); r.code != exitOK || r.stderr != "" {
			t.Fatalf("convert -O android-sparse: exit %d, %s", r.code, r.stderr)
		}
		testutil.Run(t, "simg2img", simg, simg+".raw")
		a, _ := os.ReadFile(simg + ".raw")
		b, _ := os.ReadFile(raw)
		if !bytes.Equal(a, b) {
			t.Errorf("simg2img of convert -O android-sparse (%d bytes) differs from the source (%d)", len(a), len(b))
		}
		testutil.Run(t, "img2simg", raw, simg+".peer")
		ours, _ := os.Stat(simg)
		peer, _ := os.Stat(simg + ".peer")
		if ours == nil || peer == nil || ours.Size() > peer.Size() {
			t.Errorf("convert -O android-sparse: %v bytes, img2simg %v", ours, peer)
		}
	})
	if r := runCmd(t, exec.Command(lklimgBin, "convert", "-O", "vmdk", raw, filepath.Join(dir, "x"))); r.code == exitOK || !strings.Contains(r.stderr, "the formats written are raw, qcow2 and android-sparse") {
		t.Errorf("convert -O vmdk: exit %d, %s", r.code, r.stderr)
	}
	missing := filepath.Join(dir, "missing.qcow2")
	if r := runCmd(t, exec.Command(lklimgBin, "convert", missing, filepath.Join(dir, "y"))); r.code == exitOK || !strings.Contains(r.stderr, missing+": no such file or directory") {
		t.Errorf("convert of a missing image: exit %d, %s", r.code, r.stderr)
	}
}
