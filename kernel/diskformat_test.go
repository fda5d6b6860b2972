package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestAddDiskFormats: AddDisk refuses an image in a format without a
// backend (EMEDIUMTYPE, naming it and how to convert it) and a directory
// (EISDIR), attaches the VHDX-looking file as raw when told so, and
// refuses an unknown format name (EINVAL).
func TestAddDiskFormats(t *testing.T) {
	k, err := Boot(Config{Memory: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.vhdx")
	b := make([]byte, 1<<20)
	copy(b, "vhdxfile")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = k.AddDisk(img, DiskOptions{})
	if !errors.Is(err, abi.EMEDIUMTYPE) ||
		!strings.Contains(err.Error(), "a VHDX image, a format this kernel cannot open yet: convert it to a raw image first (qemu-img convert -O raw "+img+" "+img+".raw)") {
		t.Errorf("AddDisk(vhdx): %v", err)
	}
	if _, err := k.AddDisk(dir, DiskOptions{ReadOnly: true}); !errors.Is(err, abi.EISDIR) {
		t.Errorf("AddDisk(directory): %v", err)
	}
	if _, err := k.AddDisk(img, DiskOptions{Format: "vdi"}); !errors.Is(err, abi.EINVAL) {
		t.Errorf("AddDisk(format vdi): %v", err)
	}
	name, err := k.AddDisk(img, DiskOptions{Format: "raw", ReadOnly: true})
	if err != nil || name != "vda" {
		t.Fatalf("AddDisk(raw): %q %v", name, err)
	}
	if _, err := k.Probe(name); !errors.Is(err, abi.ENODEV) {
		t.Errorf("Probe of the raw VHDX: %v", err)
	}
}
