//go:build linux

package main

import (
	"bytes"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestXFS exports XFS images of the test tree (v5 with its defaults,
// 1 KiB blocks with 8 KiB directory blocks, nrext64 with rmapbt), with
// the type probed and given: the archive must hold exactly what the host
// kernel shows of the image mounted loop,ro, entry by entry, and the
// image must not change.
func TestXFS(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	src, _ := testutil.NewTree(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"1k-blocks-8k-dirs", []string{"-b", "size=1024", "-n", "size=8192"}},
		{"nrext64-rmapbt", []string{"-i", "nrext64=1", "-m", "rmapbt=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.MkfsXFS(t, 300<<20, c.args...)
			testutil.FillLoop(t, img, testutil.CopyInto(t, src))
			exportMatchesLoop(t, img, "xfs")
		})
	}
}

// exportMatchesLoop exports img with fs2tar, the type probed and then
// given: each archive must hold exactly what the host kernel shows of
// the image mounted loop,ro, entry by entry, and the image must not
// change.
func exportMatchesLoop(t *testing.T, img, fstype string) {
	t.Helper()
	before := testutil.FileSum(t, img)
	want := testutil.LoopView(t, img)
	for _, args := range [][]string{{img}, {"-t", fstype, img}} {
		got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
		if err != nil {
			t.Fatal(err)
		}
		testutil.ExpectSame(t, "loop mount vs fs2tar", want, got,
			testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
		t.Logf("fs2tar %q: %d entries compared", args, len(want))
	}
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}
