package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MkfsXFS makes an empty XFS image of size bytes (sparse; mkfs.xfs 6.x
// takes 300 MiB at the least) with mkfs.xfs ARGS and returns its path.
// It skips (fails under CI) without mkfs.xfs.
func MkfsXFS(t testing.TB, size int64, args ...string) string {
	t.Helper()
	Need(t, "mkfs.xfs")
	img := filepath.Join(t.TempDir(), "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	Run(t, "mkfs.xfs", append([]string{"-q", "-f"}, append(args, img)...)...)
	return img
}

// FillLoop mounts img read-write through a loop device, runs each on
// the mount point, and unmounts it (clean). It skips (fails under CI)
// without loop devices.
func FillLoop(t testing.TB, img string, each ...func(mnt string)) {
	t.Helper()
	NeedLoop(t)
	mnt := t.TempDir()
	Run(t, "mount", "-o", "loop", img, mnt)
	defer umountBusy(t, mnt)
	for _, f := range each {
		f(mnt)
	}
}

// CopyInto returns a FillLoop step copying src into the mount (cp -a:
// owners, modes, times, xattrs and ACLs, hard links, devices). Device
// numbers the filesystem cannot keep (XFS: 9-bit majors, 18-bit minors,
// sysv_valid_dev; MakeTree's special/big-block) are left out; any other
// failure fails the test.
func CopyInto(t testing.TB, src string) func(string) {
	return func(mnt string) {
		t.Helper()
		out, err := exec.Command("cp", "-a", src+"/.", mnt+"/").CombinedOutput()
		if err == nil {
			return
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.Contains(l, "special/big-block") {
				t.Fatalf("cp -a: %v\n%s", err, out)
			}
		}
	}
}
