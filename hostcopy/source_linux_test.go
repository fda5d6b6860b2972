package hostcopy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/testutil"
)

// TestDirSource reads the shared tree through DirSource and writes what
// it gives as a tar: the tar's tree equals the directory's, entry by
// entry (sparse files, hard links and xattrs included), so a writer fed
// by the Source sees the tree as it is; but for its socket, which the
// walk reports and leaves out, as fs2tar does. The walk the other hosts
// use (walkSource, through the host layer) is held to the same, and
// gives the same stream as Linux's, header by header.
func TestDirSource(t *testing.T) {
	dir, want := shared.Get(t)
	var streams [2][]*archive.Header
	for i, open := range []func(string, func(error)) archive.Source{
		func(d string, r func(error)) archive.Source { return NewDirSource(d, r) },
		func(d string, r func(error)) archive.Source { return newWalkSource(d, r) },
	} {
		t.Run([]string{"hostsys", "walk"}[i], func(t *testing.T) {
			var reported []error
			s := open(dir, func(err error) { reported = append(reported, err) })
			defer s.(io.Closer).Close()
			got, headers := sourceTree(t, s)
			streams[i] = headers
			if len(reported) != 1 || !errors.Is(reported[0], archive.ErrSocket) {
				t.Errorf("reported %v, want the socket alone", reported)
			}
			if len(headers) != len(want)-1 {
				t.Errorf("%d entries from the source, %d in the tree, one a socket", len(headers), len(want))
			}
			o := treeOpts()
			o.SkipTypes = []string{testutil.TypeSocket}
			testutil.ExpectSame(t, "the directory vs its Source", want, got, o)
		})
	}
	// The walk gives Linux's stream: the same entries in the same order,
	// each of the same type, size, links and extents (the names as the
	// tar round trip spells them, without a directory's "/").
	a, b := streams[0], streams[1]
	if len(a) != len(b) {
		t.Fatalf("%d headers from hostsys, %d from the walk", len(a), len(b))
	}
	for i := range a {
		ha, hb := *a[i], *b[i]
		ha.Name, hb.Name = strings.TrimSuffix(ha.Name, "/"), strings.TrimSuffix(hb.Name, "/")
		ha.Atime, ha.Ctime, hb.Atime, hb.Ctime = nil, nil, nil, nil
		if !reflect.DeepEqual(ha, hb) {
			t.Errorf("header %d: hostsys %+v\nwalk %+v", i, ha, hb)
			break
		}
	}
}

// sourceTree writes what s gives as a tar and returns the tar's tree,
// and the headers.
func sourceTree(t *testing.T, s archive.Source) (testutil.Tree, []*archive.Header) {
	t.Helper()
	var buf bytes.Buffer
	var headers []*archive.Header
	tw := archive.NewWriter(&buf)
	for {
		h, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		headers = append(headers, h)
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
	return got, headers
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
