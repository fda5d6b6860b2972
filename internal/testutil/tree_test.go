package testutil

import (
	"bytes"
	"os/exec"
	"testing"
)

// TestMakeTreeScanDir makes the test tree and scans it back: every part
// the generator promises is there, and a tree compares equal to itself.
func TestMakeTreeScanDir(t *testing.T) {
	dir := t.TempDir()
	MakeTree(t, dir)
	tree, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"small.txt", "sparse/hole-end", "links/len500", "hard/sub/three", "special/fifo", "many/entry-1999"} {
		if tree[p] == nil {
			t.Errorf("%s: missing", p)
		}
	}
	if e := tree["sparse/hole-end"]; e != nil && len(e.Data) != 1 {
		t.Errorf("sparse/hole-end: data regions %v, want one", e.Data)
	}
	if d := Compare(tree, tree, CompareOptions{HoleUnit: 1}); len(d) != 0 {
		t.Errorf("a tree differs from itself: %v", d)
	}
	if g := linkGroups(tree, &CompareOptions{})["hard/two"]; len(g) != 3 {
		t.Errorf("hard/two: link group %v, want 3 paths", g)
	}
	t.Logf("%d entries", len(tree))
}

// TestScanTarGNU checks ScanTar against an archive another program wrote:
// GNU tar's pax format, with xattrs and sparse files, read back equals the
// directory it was made from.
func TestScanTarGNU(t *testing.T) {
	tarPath := Need(t, "tar")[0]
	dir := t.TempDir()
	MakeTree(t, dir)
	want, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Output, not Run: GNU tar warns on stderr (a socket is ignored).
	out, err := exec.Command(tarPath, "--format=posix", "--xattrs", "--xattrs-include=*", "--sparse",
		"--numeric-owner", "-C", dir, "-cf", "-", ".").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("tar: %v", err)
	}
	got, err := ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// GNU tar 1.34 archives a FIFO's second name as a second FIFO, not
	// as a hard link (fs2tar writes a link entry: the names stay one
	// file); and it keeps POSIX ACLs only with --acls, as SCHILY.acl.*.
	if a, b := got["hard/fifo-link"], got["special/fifo"]; a != nil && b != nil {
		a.Ino = b.Ino
	}
	opts := CompareOptions{SkipTypes: []string{TypeSocket},
		IgnoreXattrs: []string{"system.posix_acl_access", "system.posix_acl_default"}}
	for _, d := range Compare(want, got, opts) {
		t.Errorf("directory vs GNU tar archive: %s", d)
	}
	if e := got["sparse/hole-end"]; e == nil || !e.Sparse {
		t.Errorf("sparse/hole-end: not seen as sparse: %+v", e)
	}
}
