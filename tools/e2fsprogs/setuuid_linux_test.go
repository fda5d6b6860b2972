package e2fsprogs_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

// TestSetUUID gives filesystems of each checksum kind a new UUID and
// compares with tune2fs -U on a copy: dumpe2fs must show the same
// superblock (but for the write time and counters tune2fs updates) and
// the same group descriptors, checksums included, and e2fsck must pass.
// Where the checksums are seeded by the UUID SetUUID refuses, leaving the
// image as it was.
func TestSetUUID(t *testing.T) {
	const uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
	want := [16]byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x49, 0x78, 0x86, 0x95, 0xa4, 0xb3, 0xc2, 0xd1, 0xe0, 0xf0}
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"metadata_csum_seed", []string{"-O", "metadata_csum_seed"}, true},
		{"metadata_csum_seed-1k-meta_bg", []string{"-b", "1024", "-O", "metadata_csum_seed,^resize_inode,meta_bg"}, true},
		{"uninit_bg", []string{"-O", "^metadata_csum,uninit_bg"}, true},
		{"uninit_bg-32bit-1k", []string{"-b", "1024", "-O", "^metadata_csum,^64bit,uninit_bg"}, true},
		{"ext2", []string{"-t", "ext2"}, true},
		{"metadata_csum", nil, false},
		{"ea_inode", []string{"-O", "^metadata_csum,ea_inode"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.Need(t, "tune2fs", "debugfs")
			img := testutil.Mke2fsImage(t, "300M", tc.args...)
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) { writeMix(k, must) })
			before, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			ref := copyImage(t, img)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = e2fsprogs.SetUUID(f, want)
			f.Close()
			if !tc.ok {
				after, _ := os.ReadFile(img)
				if !errors.Is(err, abi.EINVAL) || string(after) != string(before) {
					t.Fatalf("SetUUID: %v (want EINVAL), image changed: %t", err, string(after) != string(before))
				}
				return
			}
			if err != nil {
				t.Fatalf("SetUUID: %v", err)
			}
			testutil.E2fsckClean(t, img)
			cmd := exec.Command("tune2fs", "-U", uuid, ref)
			cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tune2fs -U: %v\n%s", err, out)
			}
			got, ref2 := dumpAll(t, img), dumpAll(t, ref)
			if !strings.Contains(got, "Filesystem UUID:          "+uuid) {
				t.Errorf("dumpe2fs: not the UUID %s", uuid)
			}
			if got != ref2 {
				t.Errorf("dumpe2fs differs from tune2fs -U's:\n%s\ntune2fs:\n%s", got, ref2)
			}
		})
	}
}

// dumpAll is dumpe2fs's whole output (superblock and groups) without the
// lines tune2fs changes when it writes anything: the write time, the
// lifetime writes and the superblock's checksum.
func dumpAll(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", img).Output()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v", img, err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Last write time:") || strings.HasPrefix(l, "Lifetime writes:") || strings.HasPrefix(l, "Checksum:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
