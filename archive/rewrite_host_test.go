//go:build linux

package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestExportExclude: excluded names go, with everything under an excluded
// directory; a hard link whose first name is excluded is archived whole
// under the next.
func TestExportExclude(t *testing.T) {
	src, want := testutil.NewTree(t)
	var listed []string
	out, _ := exportHost(t, src, Options{
		Exclude: []string{"many", "*.bin", "./a/b/c/", "names/-rf", "hard/one"},
		OnEntry: func(h *Header) { listed = append(listed, h.Name) },
	})
	got, err := testutil.ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range want.Paths() {
		// "many" is a name anywhere: xattr/many goes too.
		if p == "many" || strings.HasPrefix(p, "many/") || p == "xattr/many" || strings.HasSuffix(p, ".bin") ||
			p == "a/b/c" || strings.HasPrefix(p, "a/b/c/") || p == "names/-rf" || p == "hard/one" {
			delete(want, p)
		}
	}
	if len(want) < 50 {
		t.Fatalf("the tree has only %d entries left", len(want))
	}
	noSockets := testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
	for _, d := range testutil.Compare(want, got, noSockets) {
		t.Errorf("host less excluded vs archive: %s", d)
	}
	if len(listed) != len(got) {
		t.Errorf("OnEntry saw %d entries, the archive has %d", len(listed), len(got))
	}
}

// TestExportRewrite: owners, names, clamped times and dropped xattrs, as
// Go's archive/tar reads them back; the rest of the tree is unchanged.
func TestExportRewrite(t *testing.T) {
	src, want := testutil.NewTree(t)
	const clampSec = 1_500_000_000
	root, wheel := uint32(0), uint32(10)
	out, _ := exportHost(t, src, Options{Rewrite: Rewrite{
		Uid: &root, Gid: &wheel,
		Uname: map[uint32]string{0: "root"}, Gname: map[uint32]string{0: "root"},
		MtimeClamp: &Time{Sec: clampSec},
		NoACLs:     true, NoSELinux: true,
	}})
	tr := tar.NewReader(bytes.NewReader(out))
	older, newer, xattrs := 0, 0, 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if name == "" {
			name = "."
		}
		e := want[name]
		if e == nil {
			t.Fatalf("%s: not in the tree", hdr.Name)
		}
		if hdr.Uid != 0 || hdr.Gid != 10 || hdr.Uname != "root" || hdr.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:10 \"root\":\"\"", name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if hdr.Typeflag != tar.TypeLink {
			wantMtime := min(e.Mtime, clampSec*1e9)
			if e.Mtime > clampSec*1e9 {
				newer++
			} else {
				older++
			}
			if hdr.ModTime.UnixNano() != wantMtime {
				t.Errorf("%s: mtime %v, want %d ns", name, hdr.ModTime, wantMtime)
			}
		}
		for k := range hdr.PAXRecords {
			x, ok := strings.CutPrefix(k, "SCHILY.xattr.")
			if !ok {
				continue
			}
			xattrs++
			if strings.HasPrefix(x, "system.posix_acl_") || x == "security.selinux" {
				t.Errorf("%s: %s kept", name, x)
			}
		}
	}
	if older == 0 || newer == 0 || xattrs == 0 {
		t.Errorf("the test proves little: %d entries older than the clamp, %d newer, %d xattrs", older, newer, xattrs)
	}

	out, _ = exportHost(t, src, Options{Rewrite: Rewrite{NoXattrs: true}})
	if bytes.Contains(out, []byte("SCHILY.xattr.")) {
		t.Error("NoXattrs: xattr records written")
	}
}

// TestRewriteClamp covers the nanoseconds of the comparison.
func TestRewriteClamp(t *testing.T) {
	c := Time{Sec: 100, Nsec: 500}
	for _, tc := range []struct{ in, want Time }{
		{Time{99, 999}, Time{99, 999}},
		{Time{100, 500}, Time{100, 500}},
		{Time{100, 501}, c},
		{Time{101, 0}, c},
		{Time{-5, 0}, Time{-5, 0}},
	} {
		h := Header{Mtime: tc.in, Atime: &Time{200, 0}}
		(&Rewrite{MtimeClamp: &c}).apply(&h)
		if h.Mtime != tc.want || *h.Atime != c {
			t.Errorf("clamp %v: mtime %v atime %v", tc.in, h.Mtime, *h.Atime)
		}
	}
}
