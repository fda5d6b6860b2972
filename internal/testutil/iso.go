package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ISO 9660 images and their oracle, xorriso (this host's kernel has no
// iso9660 to loop-mount).

// XorrisoImage makes an ISO image of src with xorriso -as mkisofs ARGS
// (its mkisofs emulation, which writes Rock Ridge unless --norock).
func XorrisoImage(t testing.TB, src string, args ...string) string {
	t.Helper()
	Need(t, "xorriso")
	img := filepath.Join(t.TempDir(), "image.iso")
	args = append([]string{"-as", "mkisofs", "-quiet", "-o", img}, args...)
	Run(t, "xorriso", append(args, src)...)
	return img
}

// XorrisoNative makes an image of src with xorriso's own commands: before
// between -outdev and -map, after following it (filters set on the tree,
// boot images).
func XorrisoNative(t testing.TB, src string, before, after []string) string {
	t.Helper()
	Need(t, "xorriso")
	img := filepath.Join(t.TempDir(), "image.iso")
	args := append([]string{"-report_about", "WARNING", "-outdev", img}, before...)
	args = append(args, "-map", src, "/")
	Run(t, "xorriso", append(args, after...)...)
	return img
}

// XorrisoView extracts the image's tree with xorriso (device files too)
// and scans it. xorriso reads an image as Linux does: Rock Ridge if
// present, else Joliet, else the ISO 9660 names (-read_fs auto), the
// latter lowercased with ";1" stripped as Linux's map=normal
// (-ecma119_map lowercase, which readArgs may change). It sets neither
// the times nor the owners of the symlinks it makes.
func XorrisoView(t testing.TB, img string, readArgs ...string) Tree {
	t.Helper()
	Need(t, "xorriso")
	dir := filepath.Join(t.TempDir(), "x")
	args := append([]string{"-osirrox", "on:o_excl_off:device_files", "-abort_on", "FATAL", "-ecma119_map", "lowercase"}, readArgs...)
	args = append(args, "-indev", img, "-extract", "/", dir)
	if out, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return MustScanDir(t, dir)
}

// BsdtarView extracts the image with bsdtar (libarchive's ISO 9660
// reader: Rock Ridge, Joliet, zisofs), permissions and owners kept, and
// scans it: a second oracle, written apart from xorriso.
func BsdtarView(t testing.TB, img string) Tree {
	t.Helper()
	Need(t, "bsdtar")
	dir := filepath.Join(t.TempDir(), "x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	Run(t, "bsdtar", "-x", "-p", "--same-owner", "-f", img, "-C", dir)
	return MustScanDir(t, dir)
}
