package archive

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.UTF8Locale() // the test trees hold UTF-8 names for bsdtar to extract
	os.Exit(m.Run())
}
