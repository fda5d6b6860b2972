package isofs_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

func TestMain(m *testing.M) {
	// xorriso converts names through the locale's charset: the C
	// locale would mangle every non-ASCII name.
	testutil.UTF8Locale()
	os.Exit(m.Run())
}
