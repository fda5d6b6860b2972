package virtio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// imageWith writes a 64 KiB file holding magic at off (negative: from the
// end), after bytes that are not zeros.
func imageWith(t *testing.T, magic string, off int) string {
	t.Helper()
	b := bytes.Repeat([]byte{0xe5}, 64<<10)
	if off < 0 {
		off += len(b)
	}
	copy(b[off:], magic)
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenImageRefusesFormats: each image format without a backend is
// recognised by its magic and refused with its name and the way to a raw
// image, before anything of the file changes (not even -s's extension);
// Format "raw" reads the same file as raw bytes.
func TestOpenImageRefusesFormats(t *testing.T) {
	for _, tc := range []struct {
		format, magic string
		off           int
		what, convert string
	}{
		{"vhdx", "vhdxfile", 0, "a VHDX image", "qemu-img convert -O raw"},
	} {
		p := imageWith(t, tc.magic, tc.off)
		before, _ := os.ReadFile(p)
		for _, o := range []ImageOptions{{}, {Format: "auto", ReadOnly: true}, {Size: 1 << 20, Create: true}, {Format: tc.format}} {
			be, err := OpenImage(p, o)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Format.Name != tc.format {
				if be != nil {
					be.Close()
				}
				t.Errorf("%s %+v: %v, want a FormatError", tc.format, o, err)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.what+", a format this kernel cannot open yet") ||
				!strings.Contains(msg, tc.convert+" "+p) {
				t.Errorf("%s: %q", tc.format, msg)
			}
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
			t.Errorf("%s: the refused image changed", tc.format)
		}
		be, err := OpenImage(p, ImageOptions{Format: "raw", ReadOnly: true})
		if err != nil {
			t.Errorf("%s as raw: %v", tc.format, err)
			continue
		}
		got := make([]byte, len(before))
		if err := be.ReadAt([][]byte{got}, 0); err != nil || !bytes.Equal(got, before) {
			t.Errorf("%s as raw: %v, bytes differ: %v", tc.format, err, !bytes.Equal(got, before))
		}
		be.Close()
	}
}

// TestOpenImageRaw: a file no format claims (an ext4 superblock, magic
// bytes away from where a format has them, an empty or new file) is raw;
// Size extends it only then; Truncate does not probe what it discards; an
// unknown format name and a directory are refused.
func TestOpenImageRaw(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		imageWith(t, "\x53\xef", 1024+0x38),
		imageWith(t, "QFI\xfb", 512),
		imageWith(t, "conectix", 1000),
	} {
		be, err := OpenImage(p, ImageOptions{Size: 128 << 10})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, ok := be.(*RawFile); !ok || be.Size() != 128<<10 {
			t.Errorf("%s: %T of %d bytes, want a raw file extended to 128 KiB", p, be, be.Size())
		}
		be.Close()
	}
	if _, err := OpenImage(imageWith(t, "", 0), ImageOptions{ReadOnly: true, Size: 1 << 20}); err == nil ||
		!strings.Contains(err.Error(), "a read-only image cannot be") {
		t.Errorf("read-only and extended: %v", err)
	}
	newImg := filepath.Join(dir, "new.img")
	be, err := OpenImage(newImg, ImageOptions{Create: true, Size: 4096})
	if err != nil || be.Size() != 4096 {
		t.Fatalf("new image: %v", err)
	}
	be.Close()
	qcow := imageWith(t, "QFI\xfb", 0)
	be, err = OpenImage(qcow, ImageOptions{Create: true, Truncate: true, Size: 8192})
	if err != nil || be.Size() != 8192 {
		t.Fatalf("truncated qcow2: %v", err)
	}
	be.Close()
	if _, err := OpenImage(newImg, ImageOptions{Format: "qcow3"}); err == nil ||
		!strings.Contains(err.Error(), `unknown image format "qcow3" (known: auto, qcow2, vmdk, vhdx, vpc, android-sparse, raw)`) {
		t.Errorf("format qcow3: %v", err)
	}
	for _, ro := range []bool{true, false} {
		if _, err := OpenImage(dir, ImageOptions{ReadOnly: ro}); !errors.Is(err, ErrIsDir) && !strings.Contains(fmtErr(err), "is a directory") {
			t.Errorf("directory (read-only %v): %v", ro, err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzProbeFormat: the probes take any first bytes and last sector, of
// any length, without panicking, and a format claims only what holds its
// magic where its specification puts it.
func FuzzProbeFormat(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"), []byte{})
	f.Add([]byte("\x3a\xff\x26"), []byte("conectix"))
	f.Add([]byte{}, []byte("conecti"))
	f.Add([]byte("KDMVvhdxfile"), make([]byte, SectorSize))
	magic := map[string]string{"qcow2": "QFI\xfb", "vmdk": "KDMV", "vhdx": "vhdxfile", "android-sparse": "\x3a\xff\x26\xed"}
	f.Fuzz(func(t *testing.T, head, tail []byte) {
		for _, fm := range Formats() {
			if fm.Probe == nil || !fm.Probe(head, tail) {
				continue
			}
			ok := strings.HasPrefix(string(head), magic[fm.Name])
			if fm.Name == "vmdk" {
				ok = ok || strings.HasPrefix(string(head), "# Disk DescriptorFile")
			}
			if fm.Name == "vpc" {
				ok = strings.HasPrefix(string(head), "conectix") || strings.HasPrefix(string(tail), "conectix")
			}
			if !ok {
				t.Errorf("%s claims %q / %q", fm.Name, head, tail)
			}
		}
	})
}
