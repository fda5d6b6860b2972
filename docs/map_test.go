package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDesignMap: the file-by-file map at the end of design.md names every
// Go source file of the tree (tests and testdata aside), each under its
// directory's heading, and nothing that is not there.
func TestDesignMap(t *testing.T) {
	f, err := os.Open("design.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	heading := regexp.MustCompile("^### `([^`]+)/`")
	entry := regexp.MustCompile("^- `([^`/]+\\.go)`")
	var mapped []string
	dir := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := heading.FindStringSubmatch(sc.Text()); m != nil {
			dir = m[1]
		} else if m := entry.FindStringSubmatch(sc.Text()); m != nil && dir != "" {
			mapped = append(mapped, dir+"/"+m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var tree []string
	err = filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			tree = append(tree, filepath.ToSlash(strings.TrimPrefix(p, "../")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(mapped)
	slices.Sort(tree)
	for _, p := range tree {
		if _, ok := slices.BinarySearch(mapped, p); !ok {
			t.Errorf("%s is not in design.md's map", p)
		}
	}
	for _, p := range mapped {
		if _, ok := slices.BinarySearch(tree, p); !ok {
			t.Errorf("design.md's map names %s, which is not in the tree", p)
		}
	}
	if len(tree) < 100 {
		t.Errorf("only %d source files found: is the walk from the repository's root?", len(tree))
	}
}
