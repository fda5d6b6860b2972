package testutil

import (
	"compress/gzip"
	"encoding/json"
	"io"

	"bytes"
	"github.com/klauspost/compress/zstd"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TreeArchive makes MakeTree's tree and GNU tar's pax archive of it (with
// xattrs, ACLs and sparse files, numeric owners) in the test's temporary
// directory; it returns the archive and the tree's scan. It skips the test
// without GNU tar (fails under CI).
func TreeArchive(t testing.TB) (string, Tree) {
	t.Helper()
	tarPath := Need(t, "tar")[0]
	src, tree := NewTree(t)
	archive := filepath.Join(t.TempDir(), "tree.tar")
	Run(t, tarPath, "--format=pax", "-S", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
		"-cf", archive, "-C", src, ".")
	return archive, tree
}

// TreeArchiveOptions is what a comparison of TreeArchive's tree with an
// ext4 image made from its archive leaves out: sockets (tar has none),
// lost+found (mkfs's), the FIFO's second name (GNU tar archives it as a
// FIFO of its own); holes count in 4 KiB blocks.
func TreeArchiveOptions() CompareOptions {
	return CompareOptions{SkipTypes: []string{TypeSocket}, HoleUnit: 4096,
		SkipPaths: []string{"lost+found", "hard/fifo-link"}}
}

// Compressed returns file compressed with tool (gzip, zstd, xz, bzip2:
// "TOOL -c FILE"), in the test's temporary directory, or file itself when
// tool is "". It skips the test without the tool (fails under CI).
func Compressed(t testing.TB, file, tool string) string {
	t.Helper()
	if tool == "" {
		return file
	}
	bin := Need(t, tool)[0]
	out := filepath.Join(t.TempDir(), filepath.Base(file)+"."+tool)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msg bytes.Buffer
	cmd := exec.Command(bin, "-c", file)
	cmd.Stdout, cmd.Stderr = f, &msg
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v %s", tool, err, msg.String())
	}
	return out
}

// Unzstd decompresses the zstd file src (a committed image) into the
// file dst, sparse: blocks of zeros are left as holes.
func Unzstd(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	d, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := io.ReadFull(d, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				t.Fatal(err)
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
	}
	if err := out.Truncate(off); err != nil {
		t.Fatal(err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ReadJSONGz decodes the gzipped JSON file (a recorded tree) into v.
func ReadJSONGz(t testing.TB, file string, v any) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := json.NewDecoder(z).Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// WriteJSONGz writes v to file as gzipped JSON (ReadJSONGz's).
func WriteJSONGz(t testing.TB, file string, v any) {
	t.Helper()
	var buf bytes.Buffer
	z, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err := json.NewEncoder(z).Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
