//go:build linux

package main

import (
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestErofs exports images mkfs.erofs makes of the test tree (plain,
// LZ4 with compact indexes and tail packing, LZ4HC with full indexes and
// big pclusters, chunk-based), with the type probed and given: the
// archive must hold exactly what the host kernel shows of the image
// mounted loop,ro, entry by entry.
func TestErofs(t *testing.T) {
	testutil.Need(t, "mkfs.erofs")
	src, _ := testutil.NewTree(t)
	src = testutil.ErofsTree(t, src)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"lz4-ztailpacking", []string{"-zlz4", "-Eztailpacking", "-x1"}},
		{"lz4hc-legacy-64k", []string{"-zlz4hc", "-Elegacy-compress", "-C65536"}},
		{"chunks", []string{"--chunksize=8192"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.MkfsErofs(t, src, c.args...)
			exportMatchesLoop(t, img, "erofs")
		})
	}
}
