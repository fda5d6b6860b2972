//go:build linux

package lklimgcmd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestTar2fsImportStep runs tar2fs's kernel step (mount read-write,
// import, unmount) on images made by the host's mkfs.ext4 with a fixed
// UUID, hash seed and time, for the archive uncompressed and compressed
// each way: the image is clean, holds the source tree, and two runs with
// the same clock write the same bytes.
func TestTar2fsImportStep(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	mke2fs := testutil.Need(t, "mkfs.ext4")[0]
	mkfs := func() string {
		img := filepath.Join(t.TempDir(), "img")
		testutil.Run(t, "truncate", "-s", "96M", img)
		cmd := exec.Command(mke2fs, "-q", "-F", "-E", "root_owner=0:0,hash_seed=01234567-89ab-cdef-0123-456789abcdef",
			"-U", "76543210-89ab-cdef-0123-456789abcdef", img)
		cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
		return img
	}
	epoch := int64(1700000000)
	plan := &tar2fsPlan{epoch: &epoch}
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 64}
	var first []byte
	for _, tool := range []string{"", "gzip", "zstd", "xz", "bzip2"} {
		t.Run("compress="+tool, func(t *testing.T) {
			img := mkfs()
			in, err := os.Open(testutil.Compressed(t, archive, tool))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var stdout, stderr bytes.Buffer
			status, used, err := importImage(t, f, plan, img, in, &stdout, &stderr)
			if err != nil || status != exitOK || stderr.Len() > 0 || used == 0 {
				t.Fatalf("import: status %d, used %d, %v\n%s", status, used, err, stderr.String())
			}
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = data
			} else if !bytes.Equal(first, data) {
				t.Errorf("the image differs from the first run's")
			}
			testutil.ExpectSame(t, "source vs image", want, testutil.FsckView(t, img), testutil.TreeArchiveOptions())
		})
	}
}

// TestTar2fsImportStepFails: a filesystem too small stops the import
// with ENOSPC said plainly (the image stays consistent), and one the
// driver will not write is refused before anything is imported.
func TestTar2fsImportStepFails(t *testing.T) {
	archive, _ := testutil.TreeArchive(t)
	mkfs := func(size string, opts ...string) string {
		img := filepath.Join(t.TempDir(), "img")
		testutil.MkfsExt4(t, img, "", size, opts...)
		return img
	}
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32}
	run := func(img string) (int, uint64, error, string) {
		in, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var stdout, stderr bytes.Buffer
		status, used, err := importImage(t, f, &tar2fsPlan{}, img, in, &stdout, &stderr)
		return status, used, err, stderr.String()
	}

	img := mkfs("2M")
	status, used, err, stderr := run(img)
	if err == nil || !errors.Is(err, abi.ENOSPC) || !strings.Contains(err.Error(), "the filesystem is full") ||
		!strings.Contains(err.Error(), "import stopped after") || used == 0 || stderr != "" {
		t.Errorf("2M: status %d, used %d, %v, stderr %q", status, used, err, stderr)
	}
	testutil.E2fsckClean(t, img) // after ENOSPC

	img = mkfs("16M", "-O", "fast_commit") // a feature the driver reads but does not write
	status, used, err, _ = run(img)
	if status != exitImage || used != 0 || err == nil || !strings.Contains(err.Error(), "the new filesystem cannot be written") {
		t.Errorf("fast_commit: status %d, used %d, %v", status, used, err)
	}
}

// TestTar2fsImportStepReports: -v lists every entry on stdout; an entry
// that fails is said on stderr with the count at the end, and the status
// is 1, the rest imported.
func TestTar2fsImportStepReports(t *testing.T) {
	src := t.TempDir()
	for _, p := range []string{"a", "d/b", "d/c"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(t.TempDir(), "a.tar")
	// GNU tar keeps a member name with ".." when told --absolute-names.
	testutil.Run(t, tarPath, "--sort=name", "-cf", archive, "-C", src, "--absolute-names", ".", "d/../a")
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "8M")
	in, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var stdout, stderr bytes.Buffer
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32, verbose: true}
	status, _, err := importImage(t, f, &tar2fsPlan{}, img, in, &stdout, &stderr)
	wantOut := "./\n./a\n./d/\n./d/b\n./d/c\nd/../a\n"
	wantErr := "lklimg: tar2fs: d/../a: member name contains '..'\n" +
		"lklimg: tar2fs: 1 entry of the archive could not be imported\n"
	if err != nil || status != exitFail || stdout.String() != wantOut || stderr.String() != wantErr {
		t.Errorf("status %d, %v\nstdout:\n%s\nstderr:\n%s", status, err, stdout.String(), stderr.String())
	}
}

// TestTar2fsImportStepChecksum: a compressed input whose checksum does
// not match (the gzip trailer's CRC-32, read after the archive's end) is
// an error, though every entry was read.
func TestTar2fsImportStepChecksum(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("some data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := testutil.Need(t, "tar")[0]
	archive := filepath.Join(t.TempDir(), "a.tar")
	testutil.Run(t, tarPath, "-cf", archive, "-C", src, ".")
	gz, err := os.ReadFile(testutil.Compressed(t, archive, "gzip"))
	if err != nil {
		t.Fatal(err)
	}
	gz[len(gz)-8] ^= 0xff // the CRC-32's first byte
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "8M")
	var stdout, stderr bytes.Buffer
	f := &tar2fsFlags{fsFlags: fsFlags{fsType: "ext4"}, memoryMB: 32}
	status, used, err := importImage(t, f, &tar2fsPlan{}, img, bytes.NewReader(gz), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "input: after the archive's end") || used == 0 {
		t.Errorf("status %d, used %d, %v", status, used, err)
	}
	// Intact, it goes through.
	gz[len(gz)-8] ^= 0xff
	img2 := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img2, "", "8M")
	if status, _, err := importImage(t, f, &tar2fsPlan{}, img2, bytes.NewReader(gz), &stdout, &stderr); err != nil || status != exitOK {
		t.Errorf("intact: status %d, %v", status, err)
	}
}

// importImage is tar2fs's import step on the filesystem of the image
// file img: a kernel booted on it, halted afterwards (which writes the
// image).
func importImage(t *testing.T, f *tar2fsFlags, plan *tar2fsPlan, img string, in io.Reader, stdout, stderr io.Writer) (int, uint64, error) {
	t.Helper()
	d, err := bootDisk(img, f.memoryMB, nil, plan.epoch, 0, kernel.DiskOptions{CacheUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	status, used, err := tar2fsImport(f, plan, d, in, stdout, stderr, nil)
	if herr := d.halt(); herr != nil {
		t.Errorf("halt: %v", herr)
	}
	return status, used, err
}
