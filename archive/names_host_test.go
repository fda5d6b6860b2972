//go:build linux

package archive

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIDNames(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\n# comment\n\nbroken\ntoor:x:0:0::/:/bin/sh\n+nis::::::\nuser:x:1000:1000::/home/user:/bin/sh\nbad:x:notanumber:1::/:\n"
	group := "root:x:0:\nwheel:x:10:user\nusers:x:100:"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	// group is reached through an absolute symlink: the tree's /etc, not the host's.
	if err := os.WriteFile(filepath.Join(root, "etc/group.real"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/group.real", filepath.Join(root, "etc/group")); err != nil {
		t.Fatal(err)
	}
	users, groups, err := IDNames(hostSys{}, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0] != "root" || users[1000] != "user" {
		t.Errorf("users %v", users)
	}
	if len(groups) != 3 || groups[0] != "root" || groups[10] != "wheel" || groups[100] != "users" {
		t.Errorf("groups %v", groups)
	}

	users, groups, err = IDNames(hostSys{}, t.TempDir())
	if err != nil || len(users) != 0 || len(groups) != 0 {
		t.Errorf("no /etc: %v %v %v", users, groups, err)
	}
}
