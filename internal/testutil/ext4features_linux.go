package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ext4Feature is an ext4 feature the driver writes beyond mke2fs's
// defaults, as the feature matrix of the commands' tests makes it: the
// mkfs.ext4 options of an image that has it, and how the test prepares
// such an image.
type Ext4Feature struct {
	Name string
	Opts []string
	// Encrypted: Prepare makes /secret an encrypted directory with the
	// host kernel (MakeEncryptedDir), which our writes must leave alone.
	Encrypted bool
	// Scale multiplies the size of the images a test makes, for layouts
	// where each small file takes a large cluster or block (0: 1).
	Scale int64
	// Tune are tune2fs arguments Prepare applies.
	Tune []string
	// Repair: Prepare has e2fsck -fy repair the image, since mke2fs -d
	// (1.47.0) leaves the quota files counting the root and lost+found
	// only.
	Repair bool
	// Casefold: Prepare makes the root and the directories given to it
	// casefolded, so that every directory made later inherits it.
	Casefold bool
}

// Ext4Features are the features the commands' feature matrix runs over:
// each incompat, ro_compat or compat feature the driver writes that
// mke2fs does not set by default, alone (quota with project,
// metadata_csum_seed with the orphan file, as e2fsprogs 1.47 would make
// them together), all of them together, and 64 KiB blocks. The ea_inode image has 1 KiB
// blocks, so that an xattr the host's own filesystem holds can be too
// big for an xattr block.
func Ext4Features() []Ext4Feature {
	return []Ext4Feature{
		// tune2fs -U leaves the checksum seed unlike the new UUID's.
		{Name: "orphan_file", Opts: []string{"-O", "orphan_file,metadata_csum_seed", "-U", "11111111-2222-4333-8444-555555555555"},
			Tune: []string{"-U", "99999999-2222-4333-8444-555555555555"}},
		{Name: "inline_data", Opts: []string{"-O", "inline_data"}},
		{Name: "bigalloc", Opts: []string{"-O", "bigalloc", "-C", "16384"}, Scale: 4},
		{Name: "quota", Opts: []string{"-O", "quota,project"}, Repair: true},
		{Name: "ea_inode", Opts: []string{"-O", "ea_inode", "-b", "1024"}},
		{Name: "casefold", Opts: []string{"-O", "casefold"}, Casefold: true},
		{Name: "large_dir", Opts: []string{"-O", "large_dir"}},
		{Name: "stable_inodes", Opts: []string{"-O", "stable_inodes"}},
		{Name: "verity", Opts: []string{"-O", "verity"}},
		{Name: "encrypt", Opts: []string{"-O", "encrypt"}, Encrypted: true},
		{Name: "sparse_super2", Opts: []string{"-O", "sparse_super2"}},
		// Every one together that the host kernel can read (casefold aside).
		{Name: "all", Opts: []string{"-O", "orphan_file,metadata_csum_seed,inline_data,bigalloc,quota,project,ea_inode," +
			"large_dir,stable_inodes,verity,encrypt,sparse_super2", "-C", "16384"}, Scale: 4, Repair: true},
		// Not a feature, but a block size only some kernels mount (blocks
		// larger than their pages).
		{Name: "blocksize-65536", Opts: []string{"-b", "65536"}, Scale: 16},
	}
}

// Prepare applies f.Tune to the image img, just made by mkfs.ext4 with
// f.Opts, checks that it has the features asked for (CheckFeatures), and
// gives it what
// the feature is for: an encrypted directory, or casefolded directories
// (the root and dirs, "/"-separated from it). Other features need nothing.
func (f Ext4Feature) Prepare(t testing.TB, img string, dirs ...string) {
	t.Helper()
	if f.Tune != nil {
		Run(t, Need(t, "tune2fs")[0], append(slices.Clone(f.Tune), img)...)
	}
	hdr := f.CheckFeatures(t, img)
	for i := 0; i+1 < len(f.Tune); i += 2 {
		if f.Tune[i] == "-U" && !strings.Contains(hdr, f.Tune[i+1]) {
			t.Fatalf("dumpe2fs -h %s: tune2fs -U %s did not take:\n%s", img, f.Tune[i+1], hdr)
		}
	}
	if f.Repair {
		e2fsckRepair(t, img, "-fy")
	}
	switch {
	case f.Encrypted:
		MakeEncryptedDir(t, img)
	case f.Casefold:
		CasefoldDirs(t, img, append([]string{"/"}, dirs...)...)
	}
}

// CheckFeatures fails the test unless dumpe2fs -h shows the image img
// with the features f.Opts ask for, lest a line of the matrix test
// nothing (a mkfs that ignores a feature, say), and returns what
// dumpe2fs -h printed.
func (f Ext4Feature) CheckFeatures(t testing.TB, img string) string {
	t.Helper()
	hdr := string(Run(t, Need(t, "dumpe2fs")[0], "-h", img))
	m := regexp.MustCompile(`(?m)^Filesystem features:(.*)$`).FindStringSubmatch(hdr)
	for i, o := range f.Opts {
		if o != "-O" || m == nil {
			continue
		}
		for _, name := range strings.Split(f.Opts[i+1], ",") {
			if !slices.Contains(strings.Fields(m[1]), name) {
				t.Fatalf("dumpe2fs -h %s: no %s in\n%s", img, name, hdr)
			}
		}
	}
	if m == nil {
		t.Fatalf("dumpe2fs -h %s: no features in\n%s", img, hdr)
	}
	return hdr
}

// CasefoldDirs sets EXT4_CASEFOLD_FL on directories of the ext4 image img
// with debugfs, which the host kernel cannot do without CONFIG_UNICODE,
// then has e2fsck -fD rebuild their hash trees with the casefolded names'
// hashes (as e2fsck does for Linux's casefolded directories).
func CasefoldDirs(t testing.TB, img string, dirs ...string) {
	t.Helper()
	debugfs := Need(t, "debugfs")[0]
	var cmds strings.Builder
	for _, d := range dirs {
		// 0x40080000: EXT4_CASEFOLD_FL | EXT4_EXTENTS_FL.
		fmt.Fprintf(&cmds, "set_inode_field %s flags 0x40080000\n", d)
	}
	cmd := exec.Command(debugfs, "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader(cmds.String())
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "set_inode_field:") {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	e2fsckRepair(t, img, "-fyD")
}

// e2fsckRepair runs e2fsck with flags (-fy...) on img, failing the test
// unless it leaves the filesystem clean (exit status 0, or 1 when it
// changed something).
func e2fsckRepair(t testing.TB, img, flags string) {
	t.Helper()
	e2fsck := Need(t, "e2fsck")[0]
	if out, err := exec.Command(e2fsck, flags, img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("e2fsck %s %s: %v\n%s", flags, img, err, out)
		}
	}
}

// Size returns the size of an image with the feature for a test whose
// images are usually mib MiB, as truncate -s wants it.
func (f Ext4Feature) Size(mib int64) string {
	return fmt.Sprintf("%dM", mib*max(f.Scale, 1))
}

// HoleUnit is the unit Compare rounds an image's data regions out to: the
// block size when it is larger than the 4 KiB of the host's and most
// images' pages (a hole smaller than a block is data).
func (f Ext4Feature) HoleUnit() int64 {
	for i := 0; i+1 < len(f.Opts); i++ {
		if f.Opts[i] == "-b" {
			if bs, err := strconv.ParseInt(f.Opts[i+1], 10, 64); err == nil {
				return max(bs, 4096)
			}
		}
	}
	return 4096
}

// HostMounts says whether the host kernel mounts an image with the
// feature, read-write if rw, and if not, why: it tries, on a small image
// (a kernel may lack CONFIG_UNICODE for casefold, CONFIG_QUOTA for quota,
// CONFIG_FS_VERITY for a read-write verity mount: fs/ext4/super.c,
// ext4_feature_set_ok and ext4_enable_quotas). The answer is kept for the
// test binary's life.
func (f Ext4Feature) HostMounts(t testing.TB, rw bool) (bool, string) {
	t.Helper()
	key := fmt.Sprint(f.Opts, rw)
	if v, ok := hostMounts.Load(key); ok {
		why := v.(string)
		return why == "", why
	}
	NeedLoop(t)
	mke2fs := Need(t, "mkfs.ext4")[0]
	dir := t.TempDir()
	img, mnt := dir+"/probe.img", dir+"/mnt"
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	Run(t, "truncate", "-s", f.Size(8), img)
	Run(t, mke2fs, append(append([]string{"-q", "-F"}, f.Opts...), img)...)
	opts := "loop,ro"
	if rw {
		opts = "loop"
	}
	why := ""
	if out, err := exec.Command("mount", "-o", opts, img, mnt).CombinedOutput(); err != nil {
		// The kernel's reason, if its log can be read, else mount's.
		why = fmt.Sprintf("the host kernel does not mount it -o %s: %s", opts, bytes.TrimSpace(out))
		if msg, _ := exec.Command("dmesg").Output(); msg != nil {
			lines := regexp.MustCompile(`(?m)EXT4-fs \(loop\d+\): (.*)$`).FindAllSubmatch(msg, -1)
			if len(lines) > 0 {
				why = fmt.Sprintf("the host kernel does not mount it -o %s: %s", opts, lines[len(lines)-1][1])
			}
		}
	} else {
		umountBusy(t, mnt)
	}
	hostMounts.Store(key, why)
	return why == "", why
}

// hostMounts holds HostMounts's answers by options and rw.
var hostMounts sync.Map

// LogHostView says whether the host kernel mounts an image with the
// feature (read-write if rw) to be the oracle, noting in the test log,
// when it does not, what is compared instead.
func (f Ext4Feature) LogHostView(t testing.TB, rw bool, instead string) bool {
	t.Helper()
	ok, why := f.HostMounts(t, rw)
	if !ok {
		t.Logf("%s: %s: %s", f.Name, why, instead)
	}
	return ok
}
