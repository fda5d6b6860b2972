//go:build linux

package archive

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestResolve resolves paths inside a host tree as if it were chrooted.
func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/lib/x", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"lib": "usr/lib", "abs": "/usr/lib", "up": "../../..", "etc/loop": "loop", "etc/hostetc": "/etc",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path, want string
		err        error
	}{
		{"", root, nil},
		{"/", root, nil},
		{"lib/x", root + "/usr/lib/x", nil},
		{"/abs/x/", root + "/usr/lib/x", nil},
		{"up/usr", root + "/usr", nil}, // ".." stops at the root
		{"../../etc", root + "/etc", nil},
		{"etc/hostetc/file", root + "/etc/file", nil}, // "/etc" is the tree's
		{"etc/file", root + "/etc/file", nil},
		{"etc/file/x", "", abi.ENOTDIR},
		{"etc/missing", "", abi.ENOENT},
		{"etc/loop", "", abi.ELOOP},
	} {
		got, err := Resolve(hostSys{}, root, tc.path)
		if got != tc.want || !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.path, got, err, tc.want, tc.err)
		}
	}
}
