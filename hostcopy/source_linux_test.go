package hostcopy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/testutil"
)

// TestDirSource reads the shared tree through DirSource and writes what
// it gives as a tar: the tar's tree equals the directory's, entry by
// entry (sparse files, hard links and xattrs included), so a writer fed
// by the Source sees the tree as it is; but for its socket, which the
// walk reports and leaves out, as fs2tar does.
func TestDirSource(t *testing.T) {
	dir, want := shared.Get(t)
	var reported []error
	s := NewDirSource(dir, func(err error) { reported = append(reported, err) })
	defer s.Close()
	var buf bytes.Buffer
	tw := archive.NewWriter(&buf)
	entries := 0
	for {
		h, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries++
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := testutil.ScanTar(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], archive.ErrSocket) {
		t.Errorf("reported %v, want the socket alone", reported)
	}
	if entries != len(want)-1 {
		t.Errorf("%d entries from the source, %d in the tree, one a socket", entries, len(want))
	}
	o := treeOpts()
	o.SkipTypes = []string{testutil.TypeSocket}
	testutil.ExpectSame(t, "the directory vs its Source", want, got, o)
}

// TestDirSourceErrors: a missing directory is the stream's error, and a
// Source closed early stops the walk (Close returns, no goroutine left
// writing).
func TestDirSourceErrors(t *testing.T) {
	s := NewDirSource(filepath.Join(t.TempDir(), "missing"), nil)
	if _, err := s.Next(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want ENOENT", err)
	}
	s.Close()
	dir, _ := shared.Get(t)
	s = NewDirSource(dir, nil)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Next(); err == nil {
		t.Error("Next after Close: no error")
	}
}
