package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestToFeatureImages: cptofs into images made with each feature the
// driver writes besides the defaults (stable_inodes, large_dir, verity,
// encrypt, ea_inode, casefold): e2fsck -fn finds nothing and the host
// kernel shows the source tree. On the ea_inode image (1 KiB blocks) a
// file carries an xattr of 3000 bytes, which only an ea_inode holds.
func TestToFeatureImages(t *testing.T) {
	for _, feature := range []string{"stable_inodes", "large_dir", "verity", "encrypt", "ea_inode", "casefold"} {
		t.Run(feature, func(t *testing.T) {
			src := smallTree(t)
			opts := []string{"-O", feature}
			if feature == "ea_inode" {
				opts = append(opts, "-b", "1024")
				big := bytes.Repeat([]byte("0123456789abcdef"), 3000/16)
				if err := unix.Lsetxattr(filepath.Join(src, "etc/hosts"), "user.big", big, 0); err != nil {
					t.Fatal(err)
				}
			}
			want := testutil.MustScanDir(t, src)
			img := filepath.Join(t.TempDir(), "fs.img")
			mkfs(t, img, "", "16M", opts...)
			mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
			e2fsckClean(t, img)
			if _, err := os.Stat("/sys/fs/ext4/features/casefold"); err != nil && feature == "casefold" {
				return // a kernel without CONFIG_UNICODE refuses the mount
			}
			cmp := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
			testutil.ExpectSame(t, "source vs mount -o loop", want, testutil.LoopView(t, img), cmp)
		})
	}
}
