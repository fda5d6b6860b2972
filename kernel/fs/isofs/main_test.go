package isofs_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// shared is MakeTree's tree, made once for the tests that image it.
var shared testutil.SharedTree

func TestMain(m *testing.M) {
	// xorriso converts names through the locale's charset: the C
	// locale would mangle every non-ASCII name.
	testutil.UTF8Locale()
	code := m.Run()
	shared.Remove()
	os.Exit(code)
}
