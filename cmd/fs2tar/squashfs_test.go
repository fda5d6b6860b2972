//go:build linux

package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestSquashfs exports SquashFS images made by mksquashfs from the test
// tree (gzip, and xz with 1 MiB blocks and tail ends in fragments),
// probed and with -t squashfs: the archive must hold exactly what the
// host kernel shows when it mounts the image loop,ro, and the image must
// not change.
func TestSquashfs(t *testing.T) {
	src, _ := testutil.NewTree(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"gzip", nil},
		{"xz-1m-tailends", []string{"-comp", "xz", "-b", "1M", "-tailends"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.SquashfsImage(t, src, c.args...)
			before := testutil.FileSum(t, img)
			want := testutil.LoopView(t, img)
			for _, args := range [][]string{{img}, {"-t", "squashfs", img}} {
				got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
				if err != nil {
					t.Fatal(err)
				}
				testutil.ExpectSame(t, fmt.Sprintf("loop mount vs fs2tar %q", args), want, got,
					testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
				if len(got) < 2000 {
					t.Errorf("fs2tar %q: %d entries", args, len(got))
				}
				t.Logf("fs2tar %q: %d entries compared", args, len(want))
			}
			if testutil.FileSum(t, img) != before {
				t.Error("the image changed")
			}
		})
	}
}
