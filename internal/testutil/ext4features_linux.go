package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Ext4Feature is an ext4 feature the driver writes beyond mke2fs's
// defaults, as the feature matrix of the commands' tests makes it: the
// mkfs.ext4 options of an image that has it, and what the host kernel
// needs to be an oracle for it.
type Ext4Feature struct {
	Name string
	Opts []string
	// MountNeeds names the entry of /sys/fs/ext4/features/ without which
	// the host kernel refuses to mount such an image at all ("" when any
	// kernel mounts it); WriteNeeds the one without which it mounts it
	// read-only only (fs/ext4/super.c, ext4_feature_set_ok: casefold
	// needs CONFIG_UNICODE, a read-write verity mount CONFIG_FS_VERITY).
	MountNeeds, WriteNeeds string
	// Encrypted: Prepare makes /secret an encrypted directory with the
	// host kernel (MakeEncryptedDir), which our writes must leave alone.
	Encrypted bool
	// Casefold: Prepare makes the root and the directories given to it
	// casefolded, so that every directory made later inherits it.
	Casefold bool
}

// Ext4Features are the features the commands' feature matrix runs over:
// each incompat or ro_compat feature the driver writes that mke2fs does
// not set by default, alone (quota with project, metadata_csum_seed with
// the orphan file, as e2fsprogs 1.47 would make them together). The
// ea_inode image has 1 KiB blocks, so that an xattr the host's own
// filesystem holds can be too big for an xattr block.
func Ext4Features() []Ext4Feature {
	return []Ext4Feature{
		{Name: "orphan_file", Opts: []string{"-O", "orphan_file,metadata_csum_seed"}},
		{Name: "inline_data", Opts: []string{"-O", "inline_data"}},
		{Name: "bigalloc", Opts: []string{"-O", "bigalloc", "-C", "16384"}},
		{Name: "quota", Opts: []string{"-O", "quota,project"}},
		{Name: "ea_inode", Opts: []string{"-O", "ea_inode", "-b", "1024"}},
		{Name: "casefold", Opts: []string{"-O", "casefold"}, MountNeeds: "casefold", Casefold: true},
		{Name: "large_dir", Opts: []string{"-O", "large_dir"}},
		{Name: "stable_inodes", Opts: []string{"-O", "stable_inodes"}},
		{Name: "verity", Opts: []string{"-O", "verity"}, WriteNeeds: "verity"},
		{Name: "encrypt", Opts: []string{"-O", "encrypt"}, Encrypted: true},
	}
}

// Prepare gives the image img, just made by mkfs.ext4 with f.Opts, what
// the feature is for: an encrypted directory, or casefolded directories
// (the root and dirs, "/"-separated from it). Other features need nothing.
func (f Ext4Feature) Prepare(t testing.TB, img string, dirs ...string) {
	t.Helper()
	switch {
	case f.Encrypted:
		MakeEncryptedDir(t, img)
	case f.Casefold:
		CasefoldDirs(t, img, append([]string{"/"}, dirs...)...)
	}
}

// CasefoldDirs sets EXT4_CASEFOLD_FL on directories of the ext4 image img
// with debugfs, which the host kernel cannot do without CONFIG_UNICODE,
// then has e2fsck -fD rebuild their hash trees with the casefolded names'
// hashes (as e2fsck does for Linux's casefolded directories).
func CasefoldDirs(t testing.TB, img string, dirs ...string) {
	t.Helper()
	tools := Need(t, "debugfs", "e2fsck")
	var cmds strings.Builder
	for _, d := range dirs {
		// 0x40080000: EXT4_CASEFOLD_FL | EXT4_EXTENTS_FL.
		fmt.Fprintf(&cmds, "set_inode_field %s flags 0x40080000\n", d)
	}
	cmd := exec.Command(tools[0], "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader(cmds.String())
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "set_inode_field:") {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	// e2fsck exits 1 when it changed the filesystem, as -D does.
	if out, err := exec.Command(tools[1], "-fyD", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
		}
	}
}

// HostMounts says whether the host kernel mounts an image with the
// feature, read-write if rw, and if not, what it lacks.
func (f Ext4Feature) HostMounts(rw bool) (bool, string) {
	need := f.MountNeeds
	if need == "" && rw {
		need = f.WriteNeeds
	}
	if need == "" {
		return true, ""
	}
	if _, err := os.Stat("/sys/fs/ext4/features/" + need); err != nil {
		return false, "the host kernel has no /sys/fs/ext4/features/" + need
	}
	return true, ""
}

// LogHostView notes in the test log what an image of the feature is
// compared with, and returns whether the host kernel can be that oracle
// (mounting it read-write if rw).
func (f Ext4Feature) LogHostView(t testing.TB, rw bool) bool {
	t.Helper()
	ok, why := f.HostMounts(rw)
	if !ok {
		t.Logf("%s: %s: compared with the source tree, not the host kernel's view", f.Name, why)
	}
	return ok
}
