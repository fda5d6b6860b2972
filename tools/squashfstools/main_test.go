package squashfstools_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// tree is MakeTree's tree and its tar, made once for the package.
var tree testutil.SharedTree

func TestMain(m *testing.M) {
	testutil.UTF8Locale()
	code := m.Run()
	tree.Remove()
	os.Exit(code)
}
