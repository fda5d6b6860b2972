package xfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// shared is MakeTree's tree, made once for the tests that only read it.
var shared testutil.SharedTree

// images holds the filled image of each layout, made once for the
// tests that only read them (layoutImage), in dir.
var images struct {
	sync.Mutex
	dir string
	m   map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Remove()
	if images.dir != "" {
		os.RemoveAll(images.dir)
	}
	os.Exit(code)
}

// layoutImage returns the image of layout c filled with MakeTree's tree
// and extraShapes, made on first use and kept until the tests end.
func layoutImage(t *testing.T, c layout) string {
	t.Helper()
	images.Lock()
	defer images.Unlock()
	if img, ok := images.m[c.name]; ok {
		return img
	}
	if images.dir == "" {
		dir, err := os.MkdirTemp("", "xfs-layouts")
		if err != nil {
			t.Fatal(err)
		}
		images.dir, images.m = dir, map[string]string{}
	}
	img := testutil.MkfsXFS(t, max(c.size, 300<<20), c.args...)
	reflink := !strings.Contains(strings.Join(c.args, " "), "reflink=0")
	testutil.FillLoop(t, img, testutil.CopyInto(t, xfsTree(t)), extraShapes(t, reflink))
	kept := filepath.Join(images.dir, c.name+".img")
	if err := os.Rename(img, kept); err != nil {
		t.Fatal(err)
	}
	images.m[c.name] = kept
	return kept
}
