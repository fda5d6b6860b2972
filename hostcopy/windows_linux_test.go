package hostcopy

import (
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWindows runs this package's tests of its Windows layer
// (host_windows_test.go) and of the names Windows refuses in the Windows
// build under Wine (issue 19).
func TestWindows(t *testing.T) {
	w := testutil.NeedWine(t)
	w.RunTests(t, "github.com/lklimg/lklimg/hostcopy", "^TestWindows", 4)
}
