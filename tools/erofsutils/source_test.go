package erofsutils_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/erofsutils"
)

// TestMkfsStream: what a stream leaves to the writer, as tar -x would
// do it: a name given twice (the later wins; a directory again keeps its
// entries and takes the new attributes), directories implied by a path
// (0755 root:root at the build time), a hard link to an earlier name and
// one to nothing (reported), names leaving the root (reported), "./"
// for the root's attributes, a sparse file's holes (zeros). The host
// kernel's view of the image must be exactly that.
func TestMkfsStream(t *testing.T) {
	testutil.NeedLoop(t)
	var buf bytes.Buffer
	tw := archive.NewWriter(&buf)
	mt := archive.Time{Sec: 1600000000, Nsec: 5}
	add := func(h archive.Header, data string) {
		t.Helper()
		if h.Mtime == (archive.Time{}) {
			h.Mtime = mt
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	add(archive.Header{Name: "./", Typeflag: archive.TypeDir, Mode: 0o711, Uid: 5, Gid: 6}, "")
	add(archive.Header{Name: "a/b/c.txt", Typeflag: archive.TypeReg, Mode: 0o644, Size: 3}, "one")
	add(archive.Header{Name: "a/b/c.txt", Typeflag: archive.TypeReg, Mode: 0o600, Size: 3}, "two")
	add(archive.Header{Name: "a/b", Typeflag: archive.TypeDir, Mode: 0o700, Uid: 7}, "")
	add(archive.Header{Name: "/abs", Typeflag: archive.TypeSymlink, Mode: 0o777, Linkname: "a/b/c.txt"}, "")
	add(archive.Header{Name: "../escape", Typeflag: archive.TypeReg, Mode: 0o644, Size: 1}, "x")
	add(archive.Header{Name: "a/../link", Typeflag: archive.TypeLink, Linkname: "./a/b/c.txt"}, "")
	add(archive.Header{Name: "nolink", Typeflag: archive.TypeLink, Linkname: "missing"}, "")
	add(archive.Header{Name: "sparse", Typeflag: archive.TypeReg, Mode: 0o644, Size: 1 << 20,
		Sparse: []archive.Extent{{Offset: 4096, Length: 4096}, {Offset: 1<<20 - 4096, Length: 4096}}},
		strings.Repeat("a", 4096)+strings.Repeat("b", 4096))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "s.tar")
	if err := os.WriteFile(tarPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var reports []string
	p := erofsutils.DefaultParams()
	p.BuildTime = archive.Time{Sec: 1700000000}
	for _, z := range []string{"", "lz4"} {
		p.Compressor = z
		p.Report = func(err error) { reports = append(reports, err.Error()) }
		img := mkfs(t, tarPath, p)
		got := testutil.LoopView(t, img)
		sparse := make([]byte, 1<<20)
		copy(sparse[4096:], strings.Repeat("a", 4096))
		copy(sparse[1<<20-4096:], strings.Repeat("b", 4096))
		for _, c := range []struct {
			path, typ string
			mode      uint32
			uid       uint32
			mtime     int64
			data      []byte
		}{
			{".", testutil.TypeDir, 0o711, 5, 1600000000e9 + 5, nil},
			{"a", testutil.TypeDir, 0o755, 0, 1700000000e9, nil},
			{"a/b", testutil.TypeDir, 0o700, 7, 1600000000e9 + 5, nil},
			{"a/b/c.txt", testutil.TypeFile, 0o600, 0, 1600000000e9 + 5, []byte("two")},
			{"link", testutil.TypeFile, 0o600, 0, 1600000000e9 + 5, []byte("two")},
			{"abs", testutil.TypeSymlink, 0o777, 0, 1600000000e9 + 5, nil},
			{"sparse", testutil.TypeFile, 0o644, 0, 1600000000e9 + 5, sparse},
		} {
			e := got[c.path]
			if e == nil {
				t.Errorf("-z %q: %s: missing", z, c.path)
				continue
			}
			sum := ""
			if c.data != nil {
				h := sha256.Sum256(c.data)
				sum = hex.EncodeToString(h[:])
			}
			if e.Type != c.typ || e.Mode != c.mode || e.Uid != c.uid || e.Mtime != c.mtime || e.SHA256 != sum {
				t.Errorf("-z %q: %s: %s %o uid %d mtime %d sha256 %s, want %s %o %d %d %s", z, c.path, e.Type, e.Mode,
					e.Uid, e.Mtime, e.SHA256, c.typ, c.mode, c.uid, c.mtime, sum)
			}
		}
		if got["link"] == nil || got["a/b/c.txt"] == nil || got["link"].Ino != got["a/b/c.txt"].Ino {
			t.Errorf("-z %q: link is not a hard link of a/b/c.txt", z)
		}
		if got["abs"] != nil && got["abs"].LinkTarget != "a/b/c.txt" {
			t.Errorf("-z %q: abs -> %q", z, got["abs"].LinkTarget)
		}
		if len(got) != 7 {
			t.Errorf("-z %q: %d entries, want 7: %v", z, len(got), got.Paths())
		}
	}
	joined := strings.Join(reports, "\n")
	for _, want := range []string{"../escape: EPERM (the name leaves the root", "nolink: ENOENT (hard link to missing"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reports %q lack %q", joined, want)
		}
	}
}
