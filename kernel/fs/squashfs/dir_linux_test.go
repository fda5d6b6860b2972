package squashfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// TestLookupOrders looks the names of a directory of 3000 entries (a
// listing of several metadata blocks, so with an index) up in the
// listing's order, as a walk does, with names that are not there in
// between (before, between and after the entries), backwards, and at
// random: each name finds the inode getdents64 gives it, each absent
// name ENOENT, whatever lookups came before (a lookup goes on from the
// last one's place only when that finds what a scan from the index
// entry would).
func TestLookupOrders(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		name := fmt.Sprintf("entry-%05d-%s", i*2, string(rune('a'+i%26)))
		if err := os.WriteFile(filepath.Join(src, "d", name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, root := mountSource(t, src, "-comp", "gzip")
	dip, err := root.Lookup("d")
	if err != nil {
		t.Fatal(err)
	}
	d := dip.(dirInode)
	if d.sq.IndexCount == 0 {
		t.Fatal("the directory has no index: make it larger")
	}
	inos := map[string]uint64{}
	var names []string
	if err := d.ReadDir(0, func(e vfs.DirEntry) bool {
		inos[e.Name] = e.Ino
		names = append(names, e.Name)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 3000 || !slices.IsSorted(names) {
		t.Fatalf("listing of %d names, sorted %v", len(names), slices.IsSorted(names))
	}

	check := func(order string, name string) {
		t.Helper()
		ip, err := d.Lookup(name)
		want, ok := inos[name]
		switch {
		case !ok && !errors.Is(err, abi.ENOENT):
			t.Fatalf("%s: lookup of absent %q: %v, want ENOENT", order, name, err)
		case ok && err != nil:
			t.Fatalf("%s: lookup of %q: %v", order, name, err)
		case ok && ip.Ino() != want:
			t.Fatalf("%s: lookup of %q: inode %d, want %d", order, name, ip.Ino(), want)
		}
	}
	// The listing's order, an absent name before each entry and after
	// the last ("entry-00001-..." sorts between the 0th and the 1st).
	check("in order", "a")
	for i, n := range names {
		check("in order", n)
		check("in order", fmt.Sprintf("entry-%05d-", i*2+1))
	}
	check("in order", "zzz")
	for i := len(names) - 1; i >= 0; i-- {
		check("backwards", names[i])
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		if r.IntN(4) == 0 {
			check("at random", fmt.Sprintf("entry-%05d", r.IntN(6001)))
			continue
		}
		check("at random", names[r.IntN(len(names))])
	}
}
