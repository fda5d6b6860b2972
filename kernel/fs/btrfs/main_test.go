package btrfs_test

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// shared is MakeTree's tree, made once for the tests that only read it.
var shared testutil.SharedTree

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Remove()
	os.Exit(code)
}
