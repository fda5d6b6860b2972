package squashfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// squashfs-tools-ng writes its own layout (its own block and fragment
// packing, directory index and xattr tables; tar2sqfs from a stream, so
// hard links as the archive has them): its images are compared with the
// host's view as mksquashfs's are.
func TestReadToolsNGImages(t *testing.T) {
	testutil.Need(t, "tar2sqfs", "gensquashfs", "tar")
	src := tree.get(t)
	// The archive tar2sqfs reads: GNU tar with xattrs and sparse files.
	dir := t.TempDir()
	archive := filepath.Join(dir, "tree.tar")
	testutil.Run(t, "tar", "--xattrs", "--xattrs-include=*", "--sparse", "--format=posix", "-C", src, "-cf", archive, ".")
	for _, c := range []struct {
		name string
		gen  bool // gensquashfs --pack-dir instead of tar2sqfs
		args []string
	}{
		{name: "tar2sqfs-xz", args: []string{"-c", "xz"}},
		{name: "tar2sqfs-gzip-4k", args: []string{"-c", "gzip", "-b", "4096"}},
		{name: "tar2sqfs-zstd-1m-no-tail-packing", args: []string{"-c", "zstd", "-b", "1048576", "-T"}},
		{name: "tar2sqfs-lzo-exportable", args: []string{"-c", "lzo", "-e"}},
		{name: "tar2sqfs-lz4", args: []string{"-c", "lz4"}},
		{name: "tar2sqfs-lzma", args: []string{"-c", "lzma"}},
		// gensquashfs without -x: it refuses the tree's POSIX ACLs
		// (system.* names), which SquashFS cannot store.
		{name: "gensquashfs-gzip", gen: true, args: []string{"-c", "gzip", "-k"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "sq.img")
			var cmd *exec.Cmd
			if c.gen {
				cmd = exec.Command("gensquashfs", append(append([]string{"-q", "-D", src}, c.args...), img)...)
			} else {
				cmd = exec.Command("tar2sqfs", append(append([]string{"-q", "-f"}, c.args...), img)...)
				in, err := os.Open(archive)
				if err != nil {
					t.Fatal(err)
				}
				defer in.Close()
				cmd.Stdin = in
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				if c.name == "tar2sqfs-lzma" {
					testutil.Skip(t, "tar2sqfs has no lzma here: %s", out)
				}
				t.Fatalf("%s: %v\n%s", cmd.Args, err, out)
			}
			var want testutil.Tree
			if c.name == "tar2sqfs-lzma" {
				// Linux does not read lzma: unsquashfs is the oracle.
				want = unsquashfsView(t, img)
			} else {
				want = testutil.LoopView(t, img)
			}
			got := kernelView(t, img, abi.MS_RDONLY)
			testutil.ExpectSame(t, "host vs library kernel", want, got, compareOpts)
			if len(got) < 2700 {
				t.Errorf("only %d entries", len(got))
			}
			t.Logf("%s: %d entries compared", c.name, len(want))
		})
	}
}
