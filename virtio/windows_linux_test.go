package virtio

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveWine()
	os.Exit(code)
}

// TestWindows runs this package's tests of its Windows side (the raw
// backend's portable calls on a host disk of large sectors, its holes) in the
// Windows build under Wine (issue 19). The other tests use t.TempDir,
// whose removal (Go 1.26's os.RemoveAll) Wine 8 does not support.
func TestWindows(t *testing.T) {
	w := testutil.NeedWine(t)
	w.RunTests(t, "github.com/lklimg/lklimg/virtio", "^(TestAlignedIO|TestRawHoles)$", 2)
}
