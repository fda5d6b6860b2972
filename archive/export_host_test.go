//go:build linux

package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// exportHost exports a host directory through the host's kernel.
func exportHost(t *testing.T, dir string, opts Options) ([]byte, []error) {
	t.Helper()
	var reports []error
	opts.Report = func(err error) { reports = append(reports, err) }
	var out bytes.Buffer
	if err := Export(hostSys{}, dir, &out, opts); err != nil {
		t.Fatalf("Export: %v (reports: %v)", err, reports)
	}
	return out.Bytes(), reports
}

// TestExportHostTree exports the full test tree from the host and checks
// the archive entry by entry against the host's view of the tree, as Go's
// archive/tar reads it, then as GNU tar and bsdtar extract it (holes
// included), and that a second export is byte-identical.
func TestExportHostTree(t *testing.T) {
	src, want := testutil.NewTree(t)
	var selinux bytes.Buffer
	out, reports := exportHost(t, src, Options{SELinuxFile: &selinux})
	if len(reports) != 1 || !errors.Is(reports[0], ErrSocket) || !strings.Contains(reports[0].Error(), "/special/socket") {
		t.Errorf("reports: %v, want one: the socket ignored", reports)
	}
	if got := selinux.String(); got != "/xattr/selinux system_u:object_r:bin_t:s0\n" {
		t.Errorf("selinux file: %q", got)
	}
	got, err := testutil.ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	noSockets := testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
	for _, d := range testutil.Compare(want, got, noSockets) {
		t.Errorf("host vs archive/tar: %s", d)
	}
	for _, p := range []string{"sparse/hole-start", "sparse/hole-middle", "sparse/hole-end", "sparse/all-hole", "sparse/many-holes"} {
		if e := got[p]; e == nil || !e.Sparse {
			t.Errorf("%s: not a sparse entry", p)
		}
	}
	if e := got["big.bin"]; e == nil || e.Sparse {
		t.Errorf("big.bin: sparse, but it has no hole")
	}

	again, _ := exportHost(t, src, Options{})
	if !bytes.Equal(out, again) {
		t.Errorf("two exports differ")
	}

	tarFile := filepath.Join(t.TempDir(), "tree.tar")
	if err := os.WriteFile(tarFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	withHoles := noSockets
	withHoles.HoleUnit = 4096
	t.Run("gnutar", func(t *testing.T) {
		tarPath := testutil.Need(t, "tar")[0]
		dst := t.TempDir()
		testutil.Run(t, tarPath, "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", tarFile, "-C", dst)
		extracted, err := testutil.ScanDir(dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range testutil.Compare(want, extracted, withHoles) {
			t.Errorf("host vs GNU tar -x: %s", d)
		}
		list := string(testutil.Run(t, tarPath, "-tvf", tarFile))
		if !strings.Contains(list, "./sparse/hole-end") || strings.Contains(list, "GNUSparseFile") {
			t.Errorf("tar -tvf does not show the sparse file by its name:\n%s", list)
		}
	})
	t.Run("bsdtar", func(t *testing.T) {
		bsdtar := testutil.Need(t, "bsdtar")[0]
		dst := t.TempDir()
		testutil.Run(t, bsdtar, "--xattrs", "--numeric-owner", "-xpf", tarFile, "-C", dst)
		extracted, err := testutil.ScanDir(dst)
		if err != nil {
			t.Fatal(err)
		}
		// What bsdtar (libarchive 3.7) does not restore, known and not
		// about the archive: the mtime of "." (the extraction
		// directory); POSIX ACLs carried as SCHILY.xattr.system.posix_acl_*
		// (it restores only its own ACL records); and it reads a negative
		// pax time "-86399.75" as -86399 + 0.75, where GNU tar, Go and
		// POSIX read -86399.75 (GNU tar writes the same record).
		extracted["."].Mtime = want["."].Mtime
		extracted["block-exact.bin"].Mtime = want["block-exact.bin"].Mtime
		opts := withHoles
		opts.IgnoreXattrs = []string{"system.posix_acl_access", "system.posix_acl_default"}
		for _, d := range testutil.Compare(want, extracted, opts) {
			t.Errorf("host vs bsdtar -x: %s", d)
		}
	})
}

// TestExportTimes: atime and ctime are left out unless asked for.
func TestExportTimes(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, times := range []bool{false, true} {
		out, _ := exportHost(t, src, Options{Times: times})
		tr := tar.NewReader(bytes.NewReader(out))
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			if hdr.AccessTime.IsZero() == times || hdr.ChangeTime.IsZero() == times {
				t.Errorf("Times %v: %s: atime %v, ctime %v", times, hdr.Name, hdr.AccessTime, hdr.ChangeTime)
			}
		}
	}
}
