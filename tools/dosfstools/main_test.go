package dosfstools

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

func TestMain(m *testing.M) {
	// mkfs.fat converts a label from the locale's charset: a bare
	// environment's C locale refuses every non-ASCII one before the
	// checks the tests compare with.
	testutil.UTF8Locale()
	os.Exit(m.Run())
}
