//go:build linux

package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// toolTree is the source tree of the reader's and the importer's tests
// (MakeTree's, never changed by them) and the archives the tools make of
// it, each made once. TestTools makes it in its own temporary directory
// and runs those tests as its subtests, so that it is made once and
// removed at the end.
type toolTree struct {
	dir      string // holds src/ and the archives
	tree     testutil.Tree
	archives map[string]string
}

// TestTools runs the tests that need the source tree.
func TestTools(t *testing.T) {
	s := &toolTree{dir: t.TempDir(), archives: map[string]string{}}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.src(), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, s.src())
	tree, err := testutil.ScanDir(s.src())
	if err != nil {
		t.Fatal(err)
	}
	s.tree = tree
	t.Run("Reader", func(t *testing.T) { testReaderTools(t, s) })
	t.Run("ImportHost", func(t *testing.T) { testImportHost(t, s) })
	t.Run("ImportExt4", func(t *testing.T) { testImportExt4(t, s) })
}

func (s *toolTree) src() string { return filepath.Join(s.dir, "src") }

// toolFormats are the archives of the source tree the tools make: GNU tar
// in each of its formats (sparse files found with -S; the pax ones in each
// sparse version) and bsdtar's pax and GNU formats. GNU tar --acls writes
// both the ACL text and, with --xattrs-include='*', the raw
// system.posix_acl_* xattrs; bsdtar writes the text only.
var toolFormats = map[string][]string{
	"gnu": {"tar", "--format=gnu", "-S"},
	// A level-0 incremental dump: directories are 'D' entries, their
	// data the list of their names.
	"gnu-incremental": {"tar", "--format=gnu", "-S", "--listed-incremental=%SNAPSHOT%"},
	"oldgnu":          {"tar", "--format=oldgnu", "-S"},
	"pax":             {"tar", "--format=pax", "-S", "--xattrs", "--xattrs-include=*", "--acls"},
	"pax-0.0":         {"tar", "--format=pax", "-S", "--sparse-version=0.0", "--xattrs", "--xattrs-include=*"},
	"pax-0.1":         {"tar", "--format=pax", "-S", "--sparse-version=0.1", "--xattrs", "--xattrs-include=*"},
	"pax-1.0":         {"tar", "--format=pax", "-S", "--sparse-version=1.0", "--xattrs", "--xattrs-include=*", "--acls"},
	"ustar":           {"tar", "--format=ustar"},
	"v7":              {"tar", "--format=v7"},
	"bsdtar":          {"bsdtar", "--format=pax", "--xattrs", "--acls"},
	"bsdtar-gnu":      {"bsdtar", "--format=gnutar"},
}

// archive returns the path of the source tree's archive in format,
// made with the tool on the first call. GNU tar's complaints about what
// a format cannot hold (long names in ustar, big ids in v7) leave those
// entries out, with exit status 2: the archive is still read.
func (s *toolTree) archive(t *testing.T, format string) string {
	t.Helper()
	if p, ok := s.archives[format]; ok {
		return p
	}
	args := slices.Clone(toolFormats[format])
	tool := testutil.Need(t, args[0])[0]
	out := filepath.Join(s.dir, format+".tar")
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "%SNAPSHOT%", filepath.Join(s.dir, format+".snapshot"))
	}
	cmd := exec.Command(tool, append(append(args[1:], "--numeric-owner", "-cf", out, "-C", s.src()), ".")...)
	msg, err := cmd.CombinedOutput()
	if err != nil && format != "ustar" && format != "v7" && !strings.HasPrefix(format, "bsdtar") {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	if _, serr := os.Stat(out); serr != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	s.archives[format] = out
	return out
}

// readerTree reads an archive with Reader into a testutil.Tree, as
// testutil.ScanTar does with Go's archive/tar, with the data regions of
// sparse entries as their maps give them.
func readerTree(t *testing.T, archive []byte) testutil.Tree {
	t.Helper()
	tree := testutil.Tree{}
	tr := NewReader(bytes.NewReader(archive))
	var ino uint64
	zeros := make([]byte, 64<<10)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tree
		}
		if err != nil {
			t.Fatalf("Reader: %v", err)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if p == "" || p == "." {
			p = "."
		}
		if h.Typeflag == TypeLink {
			target := tree[strings.TrimSuffix(strings.TrimPrefix(h.Linkname, "./"), "/")]
			if target == nil {
				t.Fatalf("%s: hard link to unknown %s", h.Name, h.Linkname)
			}
			e := *target
			e.Path = p
			tree[p] = &e
			continue
		}
		ino++
		e := &testutil.Entry{Path: p, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
			Mtime: h.Mtime.Sec*1e9 + h.Mtime.Nsec, Ino: ino}
		switch h.Typeflag {
		case TypeReg:
			e.Type = testutil.TypeFile
			e.Size = h.Size
			sum := sha256.New()
			regions := h.Sparse
			if regions == nil {
				regions = []Extent{{0, h.Size}}
			} else {
				e.Sparse = true
			}
			var at int64
			for _, r := range regions {
				for at < r.Offset {
					n := min(int64(len(zeros)), r.Offset-at)
					sum.Write(zeros[:n])
					at += n
				}
				if n, err := io.CopyN(sum, tr, r.Length); err != nil {
					t.Fatalf("%s: data: %d bytes of %d: %v", h.Name, n, r.Length, err)
				}
				at += r.Length
				if h.Sparse != nil {
					e.Data = append(e.Data, testutil.Range{Start: r.Offset, End: r.Offset + r.Length})
				}
			}
			for at < h.Size {
				n := min(int64(len(zeros)), h.Size-at)
				sum.Write(zeros[:n])
				at += n
			}
			e.SHA256 = hex.EncodeToString(sum.Sum(nil))
		case TypeDir:
			e.Type = testutil.TypeDir
		case TypeSymlink:
			e.Type = testutil.TypeSymlink
			e.LinkTarget = h.Linkname
		case TypeChar, TypeBlock:
			e.Type = testutil.TypeChar
			if h.Typeflag == TypeBlock {
				e.Type = testutil.TypeBlock
			}
			e.RdevMajor, e.RdevMinor = h.Devmajor, h.Devminor
		case TypeFifo:
			e.Type = testutil.TypeFifo
		default:
			t.Fatalf("%s: type %q", h.Name, h.Typeflag)
		}
		for _, x := range h.Xattrs {
			if e.Xattrs == nil {
				e.Xattrs = map[string][]byte{}
			}
			e.Xattrs[x.Name] = x.Value
		}
		tree[p] = e
	}
}

// testReaderTools reads the archives GNU tar and bsdtar make of the
// source tree, in every format: Reader must see what Go's archive/tar
// sees (which knows pax, GNU and the GNU sparse formats), and, for the
// formats that hold everything, the source tree itself, data regions
// included.
func testReaderTools(t *testing.T, s *toolTree) {
	want := s.tree
	for _, format := range slices.Sorted(maps.Keys(toolFormats)) {
		t.Run(format, func(t *testing.T) {
			data, err := os.ReadFile(s.archive(t, format))
			if err != nil {
				t.Fatal(err)
			}
			got := readerTree(t, data)
			goTree, err := testutil.ScanTar(bytes.NewReader(data))
			switch {
			case err != nil && strings.Contains(err.Error(), "unexpected type"):
				// testutil.ScanTar does not take old GNU sparse
				// entries nor GNU dumpdirs: the source is the oracle
				// below.
			case err != nil:
				t.Fatal(err)
			default:
				o := testutil.CompareOptions{}
				if strings.HasPrefix(format, "bsdtar") {
					// Go does not read bsdtar's ACL text; Reader makes
					// it the xattrs, compared with the source below.
					o.IgnoreXattrs = []string{xattrACLAccess, xattrACLDefault}
				}
				for _, d := range testutil.Compare(goTree, got, o) {
					t.Errorf("archive/tar vs Reader: %s", d)
				}
			}
			// Against the source: what the format keeps.
			if format == "ustar" || format == "v7" {
				return // entries left out; archive/tar is the oracle
			}
			o := formatOptions(format)
			if strings.HasPrefix(format, "bsdtar") {
				o.SkipPaths = append(o.SkipPaths, bsdtarQuirks(got, want, format)...)
			}
			for _, d := range testutil.Compare(want, got, o) {
				t.Errorf("source vs Reader: %s", d)
			}
			for _, p := range []string{"sparse/hole-start", "sparse/hole-end", "sparse/many-holes"} {
				if e := got[p]; format != "bsdtar-gnu" && (e == nil || !e.Sparse) {
					t.Errorf("%s: not read as a sparse entry", p)
				}
			}
		})
	}
}

// bsdtarQuirks undoes in got what libarchive 3.7 writes differently from
// the source, known and not about the reader:
//
//   - a negative time with a fraction is written as its seconds and a
//     positive fraction ("-86400.25" for -86400 + 0.25), which pax, GNU
//     tar and Go read as -86400.25 seconds; in GNU format it is 0;
//   - a device number beyond the GNU header's octal fields is left out;
//   - the mode's group bits are the ACL's group entry, not its mask:
//     setting the ACL on extraction makes them the mask again, as in the
//     source.
//
// It returns the paths to leave out.
func bsdtarQuirks(got, want testutil.Tree, format string) (skip []string) {
	if e := got["block-exact.bin"]; e != nil && (e.Mtime == -86400_250000000 || format == "bsdtar-gnu" && e.Mtime == 0) {
		e.Mtime = want["block-exact.bin"].Mtime
	}
	if format == "bsdtar-gnu" && got["special/big-block"] == nil {
		skip = append(skip, "special/big-block")
	}
	for _, p := range []string{"acl/file", "acl/default-dir"} {
		if e, w := got[p], want[p]; e != nil && w != nil && e.Mode&^0o070 == w.Mode&^0o070 {
			e.Mode = w.Mode
		}
	}
	return skip
}
