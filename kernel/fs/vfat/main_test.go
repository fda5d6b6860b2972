package vfat_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

func TestMain(m *testing.M) {
	// mtools shows names in the locale's charset: a bare environment's C
	// locale turns every non-ASCII name into "_".
	testutil.UTF8Locale()
	os.Exit(m.Run())
}
