package squashfs_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// tree is the source tree of the image tests, made once (tree_test.go).
var tree sourceTree

func TestMain(m *testing.M) {
	testutil.UTF8Locale()
	code := m.Run()
	tree.remove()
	os.Exit(code)
}
