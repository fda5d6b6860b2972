//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// TestDamagedSquashfs is the damage sweep for SquashFS: 300 images, each
// a small image (gzip, xz, lzo) with one to four bytes changed at seeded
// random places (half of them in the superblock or the tables at the
// end), run through the fs2tar binary as the ext4 sweep runs it: it must
// end by itself (no panic, no hang) with status 0, 1 or 2, name a path
// for each entry it skips, and stay under damageMaxRSS.
func TestDamagedSquashfs(t *testing.T) {
	tools := testutil.Need(t, "/usr/bin/time", "prlimit")
	var bases [][]byte
	for _, args := range [][]string{nil, {"-comp", "xz"}, {"-comp", "lzo"}} {
		bases = append(bases, testutil.SmallSquashfs(t, args...))
	}
	img := filepath.Join(t.TempDir(), "damaged.img")
	rnd := rand.New(rand.NewPCG(7, 16))
	codes := map[int]int{}
	var maxRSS int64
	for i := range 300 {
		b := append([]byte(nil), bases[i%len(bases)]...)
		for range 1 + rnd.IntN(4) {
			at := rnd.IntN(len(b))
			switch rnd.IntN(4) {
			case 0:
				at = rnd.IntN(96)
			case 1:
				at = len(b) - 1 - rnd.IntN(min(len(b), 600))
			}
			b[at] ^= byte(1 + rnd.IntN(255))
		}
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := runCapped(tools[0], tools[1], img)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		codes[r.code]++
		maxRSS = max(maxRSS, r.maxRSS)
		if bad := r.verdict(); bad != "" {
			t.Errorf("damaged image %d: %s\n%.3000s", i, bad, r.stderr)
			t.Logf("kept as %s", keepImage(img, "damaged-squashfs", i))
		}
	}
	t.Logf("300 damaged images: exit statuses %v, peak RSS %d MiB", codes, maxRSS>>20)
}
