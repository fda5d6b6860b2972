//go:build linux

package main

import (
	"bytes"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestFeatureMatrix is cptofs's part of the feature matrix: for each
// feature of testutil.Ext4Features, the shared tree goes into an image
// mke2fs made with it (prepared as the feature wants: an encrypted
// directory the host kernel made, a casefolded root), then again over
// itself, and comes back out. e2fsck -fn finds nothing after each copy; the host kernel, where it mounts such an
// image, shows the source tree and the encrypted directory as it was
// before; cpfromfs brings back the source tree (the only view of a
// casefolded image on a kernel without CONFIG_UNICODE). On the ea_inode
// image a file carries an xattr of 3000 bytes, which only an ea_inode
// holds there (1 KiB blocks).
func TestFeatureMatrix(t *testing.T) {
	src, want := shared.Get(t)
	extra := filepath.Join(t.TempDir(), "big")
	writeFile(t, extra, "big\n")
	if err := unix.Lsetxattr(extra, "user.big", bytes.Repeat([]byte("0123456789abcdef"), 3000/16), 0); err != nil {
		t.Fatal(err)
	}
	withBig := maps.Clone(want)
	withBig["big"] = testutil.MustScanDir(t, filepath.Dir(extra))["big"]
	for _, f := range testutil.Ext4Features() {
		t.Run(f.Name, func(t *testing.T) {
			want := want
			img := filepath.Join(t.TempDir(), "fs.img")
			testutil.MkfsExt4(t, img, "", f.Size(64), f.Opts...)
			f.Prepare(t, img)
			view := testutil.LoopView
			var secret testutil.Tree
			if f.Encrypted {
				view = testutil.LoopViewUnlocked
				if secret = subtree(view(t, img), "secret"); len(secret) < 5 {
					t.Fatalf("the host kernel shows %d entries under /secret", len(secret))
				}
			}
			if f.Name == "ea_inode" { // first: the tree then sets the root's mtime
				mustRun(t, cptofs(t, "-i", img, extra, "/big"), "cptofs big")
				want = withBig
			}
			mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
			testutil.E2fsckClean(t, img)
			// Again, over the same files: each is replaced.
			mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs again")
			testutil.E2fsckClean(t, img)
			opts := testutil.CompareOptions{SkipPaths: []string{"lost+found", "secret"}, HoleUnit: f.HoleUnit()}
			if f.LogHostView(t, false, "compared through cpfromfs only") {
				got := view(t, img)
				testutil.ExpectSame(t, "source vs mount -o loop", want, got, opts)
				if secret != nil {
					testutil.ExpectSame(t, "encrypted directory before vs after", secret, subtree(got, "secret"), testutil.CompareOptions{})
				}
			}
			// The source's top level one by one, around the encrypted
			// directory.
			out := t.TempDir()
			args := []string{"-i", img}
			for p := range want {
				if p != "." && !strings.Contains(p, "/") {
					args = append(args, "/"+p)
				}
			}
			mustRun(t, cpfromfs(t, append(args, out)...), "cpfromfs")
			opts.SkipPaths = append(opts.SkipPaths, ".")
			testutil.ExpectSame(t, "source vs cpfromfs", want, testutil.MustScanDir(t, out), opts)
		})
	}
}

// subtree returns the entries of tree at dir and under it.
func subtree(tree testutil.Tree, dir string) testutil.Tree {
	sub := testutil.Tree{}
	for p, e := range tree {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			sub[p] = e
		}
	}
	return sub
}
