package ext4

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestMountReadWrite mounts fresh images read-write and unmounts them: the
// image stays clean, and an image with a feature the writer does not keep
// valid mounts read-only with the feature named.
func TestMountReadWrite(t *testing.T) {
	testutil.Need(t, "mkfs.ext4")
	for _, c := range []struct {
		name string
		args []string
		ro   string // the reason in the log when the mount must be read-only
	}{
		{"ext4", nil, ""},
		{"ext2", []string{"-t", "ext2"}, ""},
		{"bigalloc", []string{"-O", "bigalloc", "-C", "16384"}, ""},
		{"fast_commit", []string{"-O", "fast_commit"}, "fast_commit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "x.img")
			args := append([]string{"-q", "-F"}, c.args...)
			if out, err := exec.Command("mkfs.ext4", append(args, img, "8M")...).CombinedOutput(); err != nil {
				t.Fatalf("mkfs: %v\n%s", err, out)
			}
			log := &testLog{}
			sb, err := NewType().Mount(openDevRW(t, img), 0, "", log)
			if err != nil {
				t.Fatal(err)
			}
			f := sb.(*fsys)
			if c.ro != "" {
				if !f.ReadOnly() || !strings.Contains(log.String(), c.ro) {
					t.Errorf("mount: read-only %v, want true naming %q; log:\n%s", f.ReadOnly(), c.ro, log)
				}
			} else if f.ReadOnly() {
				t.Errorf("mount read-only; log:\n%s", log)
			}
			umountRW(t, f)
			e2fsckClean(t, img)
		})
	}
}
