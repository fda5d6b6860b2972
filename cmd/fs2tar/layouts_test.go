//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// featureSet is one ext4 layout of issue #3: how to make an image of it
// from the test tree, and what fs2tar must show of it.
type featureSet struct {
	name string
	// mkfs holds the mkfs.ext4 options; size the image's size.
	mkfs []string
	size string
	// rw changes the image through a read-write loop mount, so that the
	// image holds what Linux itself writes (htree directories, inline
	// data, ea_inodes, encryption policies).
	rw func(t *testing.T, mnt string)
	// craft changes the image with e2fsprogs, for what the host kernel
	// cannot write (see noKernel).
	craft func(t *testing.T, img string)
	// noKernel says why the host kernel cannot show the image: fs2tar is
	// then compared with the source tree as mkfs.ext4 -d stored it
	// (mtimes left out: e2fsprogs 1.47.0 keeps whole 32-bit seconds).
	noKernel string
	// expect adds the entries craft made to the source tree.
	expect func(t *testing.T, want testutil.Tree)
	// skipped are paths the kernel shows and fs2tar reports and leaves
	// out (encrypted ones): fs2tar then exits 1.
	skipped []string
	// encrypted is a directory encrypted by rw: the kernel lists it
	// without the key (no-key names) and so does fs2tar, but its regular
	// files cannot be opened: they are the skipped ones.
	encrypted string
	// check runs feature-specific checks on the image and the archive.
	check func(t *testing.T, img string, got testutil.Tree)
}

// TestFeatures is issue #3's acceptance test: for every layout mke2fs 1.47
// can make, the test tree goes into an image with mkfs.ext4 -d (and, where
// the layout's point is what Linux writes, through a read-write loop
// mount), e2fsck -fn finds it clean, and fs2tar's archive must hold
// exactly what the host kernel shows of the image, entry by entry: names,
// types, modes, owners, times, sizes, contents, link targets, device
// numbers, xattrs and hard links. Hidden inodes (journal, quota, resize,
// orphan file, ea_inode values) must therefore never appear.
func TestFeatures(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck", "debugfs")
	src, want := testutil.NewTree(t)
	for _, fs := range featureSets() {
		t.Run(fs.name, func(t *testing.T) {
			start := time.Now()
			img := filepath.Join(t.TempDir(), "fs.img")
			size := fs.size
			if size == "" {
				size = "64M"
			}
			testutil.MkfsExt4(t, img, src, size, fs.mkfs...)
			if fs.rw != nil {
				testutil.NeedLoop(t)
				mnt, umount := testutil.HostMount(t, img, "rw")
				fs.rw(t, mnt)
				umount()
			}
			if fs.craft != nil {
				fs.craft(t, img)
			}
			testutil.E2fsckClean(t, img)
			skipped := fs.skipped
			if fs.encrypted != "" {
				skipped = encryptedFiles(t, img, fs.encrypted)
			}
			before := testutil.FileSum(t, img)
			r := fs2tar(t, img)
			if testutil.FileSum(t, img) != before {
				t.Error("the image changed")
			}
			wantCode := 0
			if len(skipped) > 0 {
				wantCode = 1
			}
			if r.code != wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, wantCode, r.stderr)
			}
			for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
				if line == "" || strings.HasSuffix(line, ": socket ignored") {
					continue
				}
				expected := strings.HasPrefix(line, "fs2tar: some entries could not be archived") && wantCode == 1
				for _, p := range skipped {
					expected = expected || line == "fs2tar: /"+p+": encrypted, no key: skipped"
				}
				if !expected {
					t.Errorf("stderr: %s", line)
				}
			}
			for _, p := range skipped {
				if !strings.Contains(r.stderr, "fs2tar: /"+p+": encrypted, no key: skipped\n") {
					t.Errorf("%s is not reported as encrypted:\n%s", p, r.stderr)
				}
			}
			got, err := testutil.ScanTar(bytes.NewReader(r.stdout))
			if err != nil {
				t.Fatal(err)
			}
			if fs.noKernel != "" {
				// The host kernel cannot show this layout: compare
				// with the source, which is what mkfs.ext4 -d stored.
				t.Logf("compared with the source tree, not the host kernel: %s", fs.noKernel)
				expected := testutil.Tree{}
				for p, e := range want {
					expected[p] = e
				}
				if fs.expect != nil {
					fs.expect(t, expected)
				}
				opts := testutil.CompareOptions{
					SkipPaths: []string{"lost+found", "."},
					SkipTypes: []string{testutil.TypeSocket},
					Ignore:    []string{"mtime"},
				}
				for _, d := range testutil.Compare(expected, got, opts) {
					t.Errorf("source vs fs2tar: %s", d)
				}
				if got["lost+found"] == nil {
					t.Error("lost+found is missing")
				}
			} else {
				testutil.NeedLoop(t)
				mnt, umount := testutil.HostMount(t, img, "ro")
				for _, p := range skipped {
					if _, err := os.Lstat(filepath.Join(mnt, p)); err != nil {
						t.Errorf("%s: not in the kernel's view: %v", p, err)
					}
				}
				// The kernel lists an encrypted directory without the
				// key (with encoded names) but opens none of its files.
				kernelView, err := testutil.ScanDirExcept(mnt, skipped...)
				umount()
				if err != nil {
					t.Fatal(err)
				}
				opts := testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
				for _, p := range skipped {
					if got[p] != nil {
						t.Errorf("%s: encrypted, yet archived", p)
					}
					for q := range got {
						if strings.HasPrefix(q, p+"/") {
							t.Errorf("%s: under an encrypted directory, yet archived", q)
						}
					}
					opts.SkipPaths = append(opts.SkipPaths, p)
				}
				for _, d := range testutil.Compare(kernelView, got, opts) {
					t.Errorf("mount -o loop vs fs2tar: %s", d)
				}
				if len(got) < len(want)/2 {
					t.Errorf("only %d entries archived", len(got))
				}
			}
			if fs.check != nil {
				fs.check(t, img, got)
			}
			t.Logf("%s: %d entries in %v", fs.name, len(got), time.Since(start))
		})
	}
}

// featureSets lists the layouts: every mkfs.ext4 1.47 feature that changes
// what a reader must decode.
func featureSets() []featureSet {
	return []featureSet{
		{name: "default-journal"},
		{name: "no-journal", mkfs: []string{"-O", "^has_journal"}},
		{name: "ext2", mkfs: []string{"-t", "ext2"}},
		{name: "ext3", mkfs: []string{"-t", "ext3"}},
		{name: "inode-128", mkfs: []string{"-I", "128"}},
		{name: "inline_data", mkfs: []string{"-O", "inline_data"}, rw: writeInline,
			check: func(t *testing.T, img string, got testutil.Tree) {
				if !strings.Contains(testutil.DebugfsOut(t, img, "stat /inline/file"), "Size of inline data") {
					t.Error("inline/file is not stored inline")
				}
				if !strings.Contains(testutil.DebugfsOut(t, img, "stat /inline/dir"), "Size of inline data") {
					t.Error("inline/dir is not stored inline")
				}
			}},
		{name: "bigalloc-16k", mkfs: []string{"-O", "bigalloc", "-C", "16384"}},
		{name: "bigalloc-1M", mkfs: []string{"-O", "bigalloc", "-C", "1048576", "-N", "4096"}, size: "512M"},
		// Without a journal and with a fixed hash seed, Linux's links
		// are quick and the tree's depth does not depend on chance.
		{name: "large_dir", size: "160M", mkfs: []string{"-O", "large_dir,^has_journal", "-b", "1024", "-N", "16384",
			"-E", "root_owner=0:0,hash_seed=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
			rw: makeHugeDir,
			check: func(t *testing.T, img string, got testutil.Tree) {
				if out := testutil.DebugfsOut(t, img, "htree /huge"); !strings.Contains(out, "Indirect levels: 2") {
					t.Errorf("/huge has no 3-level htree:\n%.500s", out)
				}
				if n := countUnder(got, "huge"); n != hugeDirEntries {
					t.Errorf("/huge: %d entries, want %d", n, hugeDirEntries)
				}
			}},
		{name: "ea_inode", mkfs: []string{"-O", "ea_inode"}, rw: setBigXattrs,
			check: func(t *testing.T, img string, got testutil.Tree) {
				e := got["ea/big"]
				if e == nil || len(e.Xattrs["user.big"]) != 60000 || len(e.Xattrs["trusted.block"]) != 5000 {
					t.Errorf("ea/big: %+v", e)
				}
			}},
		{name: "orphan_file", mkfs: []string{"-O", "orphan_file"}},
		// mkfs.ext4 1.47.0 -d leaves the quota usage short by the root
		// directory: e2fsck -fy fixes it, so that the image is clean.
		{name: "quota", mkfs: []string{"-O", "quota"}, craft: fsckFix},
		{name: "project-quota", mkfs: []string{"-O", "project,quota", "-I", "256"}, craft: setProjectIDs},
		{name: "stable_inodes", mkfs: []string{"-O", "stable_inodes"}},
		{name: "metadata_csum_seed", mkfs: []string{"-O", "metadata_csum_seed", "-U", "6b33f586-a183-4383-921d-30da7f8f1a0c"}},
		{name: "64k-blocks", mkfs: []string{"-b", "65536"}, size: "256M",
			noKernel: "Linux on x86-64 mounts no block size above the 4 KiB page size (\"bad block size 65536\")"},
		{name: "encrypt", mkfs: []string{"-O", "encrypt"}, rw: encryptDir, encrypted: "secret"},
		{name: "casefold", mkfs: []string{"-O", "casefold"}, craft: craftCasefold, expect: expectCasefold,
			noKernel: "the host kernel is built without CONFIG_UNICODE when it refuses the mount", check: checkCasefold},
		{name: "verity", mkfs: []string{"-O", "verity"}, craft: craftVerity, expect: expectVerity,
			noKernel: "a kernel without CONFIG_FS_VERITY refuses to open a verity file (EOPNOTSUPP)", check: checkVerity},
	}
}

func countUnder(tree testutil.Tree, dir string) int {
	n := 0
	for p := range tree {
		if strings.HasPrefix(p, dir+"/") {
			n++
		}
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeInline has Linux write small files, directories and symlinks,
// which it keeps in the inode with inline_data (mkfs.ext4 -d does not
// always).
func writeInline(t *testing.T, mnt string) {
	p := func(s string) string { return filepath.Join(mnt, s) }
	must(t, os.MkdirAll(p("inline/dir/sub"), 0o755))
	must(t, os.WriteFile(p("inline/file"), []byte("short file, inline\n"), 0o644))
	must(t, os.WriteFile(p("inline/tail"), bytes.Repeat([]byte("i"), 150), 0o600)) // into system.data
	for i := range 4 {
		must(t, os.WriteFile(p(fmt.Sprintf("inline/dir/f%d", i)), []byte{byte(i)}, 0o644))
	}
	must(t, os.Symlink(strings.Repeat("t", 80), p("inline/link")))
	must(t, unix.Setxattr(p("inline/file"), "user.x", []byte("y"), 0))
}

// hugeDirEntries is enough 247-byte names for a 3-level htree with 1 KiB
// blocks (22000 are, with the hash seed of the large_dir image): a leaf
// holds 3 entries and an index node at most 123 to 126 leaves, each about
// half full after their splits.
const hugeDirEntries = 24000

// makeHugeDir makes /huge with hugeDirEntries hard links of one file, each
// with a long name: Linux grows its htree to three levels (large_dir).
func makeHugeDir(t *testing.T, mnt string) {
	dir := filepath.Join(mnt, "huge")
	must(t, os.Mkdir(dir, 0o755))
	target := filepath.Join(mnt, "huge-target")
	must(t, os.WriteFile(target, []byte("one file, many names\n"), 0o644))
	pad := strings.Repeat("x", 240)
	for i := range hugeDirEntries {
		if err := unix.Link(target, filepath.Join(dir, fmt.Sprintf("%s-%06d", pad, i))); err != nil {
			t.Fatalf("link %d: %v", i, err)
		}
	}
}

// setBigXattrs sets values larger than a block, which Linux stores in
// ea_inodes, and a value shared by two files.
func setBigXattrs(t *testing.T, mnt string) {
	p := func(s string) string { return filepath.Join(mnt, s) }
	must(t, os.MkdirAll(p("ea"), 0o755))
	for _, f := range []string{"ea/big", "ea/twin"} {
		must(t, os.WriteFile(p(f), []byte("big xattrs\n"), 0o644))
	}
	big := make([]byte, 60000)
	for i := range big {
		big[i] = byte(i*31 + i>>8)
	}
	must(t, unix.Setxattr(p("ea/big"), "user.big", big, 0))
	must(t, unix.Setxattr(p("ea/big"), "trusted.block", bytes.Repeat([]byte("b"), 5000), 0))
	must(t, unix.Setxattr(p("ea/twin"), "user.big", big, 0)) // the ea_inode is shared
	must(t, unix.Setxattr(p("ea"), "user.dir", bytes.Repeat([]byte("d"), 8000), 0))
}

// fsckFix runs e2fsck -fy, which may fix things (exit 1).
func fsckFix(t *testing.T, img string) {
	out, err := exec.Command(testutil.Need(t, "e2fsck")[0], "-fy", img).CombinedOutput()
	if err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("e2fsck -fy: %v\n%s", err, out)
	}
}

// setProjectIDs gives files and a directory project ids with debugfs:
// Linux cannot mount a quota filesystem read-write without
// CONFIG_QFMT_V2, and e2fsck then rebuilds the project quota.
func setProjectIDs(t *testing.T, img string) {
	debugfs := testutil.Need(t, "debugfs")[0]
	for _, f := range []string{"/small.txt", "/a", "/a/b/c/d/leaf"} {
		testutil.Run(t, debugfs, "-w", "-R", "sif "+f+" projid 4242", img)
	}
	fsckFix(t, img)
	if !strings.Contains(testutil.DebugfsOut(t, img, "stat /small.txt"), "Project:  4242") {
		t.Errorf("no project id:\n%s", testutil.DebugfsOut(t, img, "stat /small.txt"))
	}
}

// encryptedFiles returns the regular files under dir (relative to the
// image's root) as the host kernel lists them without the key.
func encryptedFiles(t *testing.T, img, dir string) []string {
	testutil.NeedLoop(t)
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	var files []string
	err := filepath.WalkDir(filepath.Join(mnt, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(mnt, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("the kernel lists %d files under the encrypted %s", len(files), dir)
	}
	return files
}

// encryptDir makes /secret an encrypted directory (fscrypt v2 policy, a
// key added to the filesystem's keyring, gone at umount) holding a file,
// a directory and a symlink.
func encryptDir(t *testing.T, mnt string) {
	dir := filepath.Join(mnt, "secret")
	must(t, os.Mkdir(dir, 0o755))
	testutil.EncryptDir(t, mnt, dir)
	must(t, os.WriteFile(filepath.Join(dir, "plans.txt"), []byte("the secret plans\n"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "deeper"), bytes.Repeat([]byte("s"), 10000), 0o600))
	must(t, os.Symlink("plans.txt", filepath.Join(dir, "link")))
	// A target and a name longer than 149 bytes once encrypted: the slow
	// symlink, and the no-key name that ends in a SHA-256.
	must(t, os.Symlink(strings.Repeat("t", 300), filepath.Join(dir, "longlink")))
	must(t, os.WriteFile(filepath.Join(dir, strings.Repeat("n", 200)), nil, 0o600))
	// Enough names for an indexed directory, listed in hash order.
	for i := range 150 {
		must(t, os.Mkdir(filepath.Join(dir, "sub", fmt.Sprintf("d%03d", i)), 0o700))
	}
}

// Casefolding: the host kernel may lack CONFIG_UNICODE, and then can
// neither mount the image nor make a directory casefolded. e2fsprogs can:
// debugfs sets EXT4_CASEFOLD_FL on an empty directory, and e2fsck -fD
// builds its htree with the hashes of the casefolded names, as Linux does.
var casefoldNames = []string{"README", "Makefile", "ÉCOLE.txt", "Straße", "ΣΊΣΥΦΟΣ", "mixed-Case-Ǆ", "ǅungla"}

const (
	casefoldMany    = 300 // enough entries for an indexed directory
	casefoldContent = "casefolded content\n"
)

func craftCasefold(t *testing.T, img string) {
	debugfs := testutil.Need(t, "debugfs")[0]
	host := filepath.Join(t.TempDir(), "content")
	must(t, os.WriteFile(host, []byte(casefoldContent), 0o644))
	var cmds strings.Builder
	cmds.WriteString("mkdir /cf\nset_inode_field /cf flags 0x40080000\ncd /cf\n")
	for _, n := range casefoldNames {
		fmt.Fprintf(&cmds, "write %s %s\n", host, n)
	}
	for i := range casefoldMany {
		fmt.Fprintf(&cmds, "write %s File-%04d-NAME\n", host, i)
	}
	cmdFile := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(cmdFile, []byte(cmds.String()), 0o644))
	testutil.Run(t, debugfs, "-w", "-f", cmdFile, img)
	out, err := exec.Command(testutil.Need(t, "e2fsck")[0], "-fyD", img).CombinedOutput()
	if err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
	}
	if s := testutil.DebugfsOut(t, img, "stat /cf"); !strings.Contains(s, "Flags: 0x40081000") { // casefold, extents, index
		t.Fatalf("/cf is not an indexed casefolded directory:\n%s", s)
	}
	if mnt := t.TempDir(); exec.Command("mount", "-o", "loop,ro", img, mnt).Run() == nil {
		// A kernel with CONFIG_UNICODE: it is the oracle after all.
		defer exec.Command("umount", mnt).Run()
		for _, n := range casefoldNames {
			if _, err := os.Stat(filepath.Join(mnt, "cf", strings.ToLower(n))); err != nil {
				t.Errorf("host kernel: %v", err)
			}
		}
	}
}

func expectCasefold(t *testing.T, want testutil.Tree) {
	add := func(p string, e testutil.Entry) { e.Path = p; want[p] = &e }
	add("cf", testutil.Entry{Type: testutil.TypeDir, Mode: 0o755})
	file := testutil.Entry{Type: testutil.TypeFile, Mode: 0o644, Size: int64(len(casefoldContent)),
		SHA256: sha256Hex([]byte(casefoldContent))}
	names := slices.Clone(casefoldNames)
	for i := range casefoldMany {
		names = append(names, fmt.Sprintf("File-%04d-NAME", i))
	}
	for i, n := range names {
		file.Ino = 1<<40 + uint64(i) // each its own file
		add("cf/"+n, file)
	}
}

// checkCasefold looks names up in the casefolded directory in other
// cases, through the library kernel, as Linux resolves them.
func checkCasefold(t *testing.T, img string, got testutil.Tree) {
	k := mountLib(t, img)
	for _, c := range []struct{ ask, found string }{
		{"cf/readme", "README"}, {"cf/MAKEFILE", "Makefile"}, {"cf/école.TXT", "ÉCOLE.txt"},
		{"cf/STRASSE", "Straße"}, {"cf/strasse", "Straße"}, {"cf/σίσυφος", "ΣΊΣΥΦΟΣ"},
		{"cf/MIXED-case-ǆ", "mixed-Case-Ǆ"}, {"cf/ǆungla", "ǅungla"}, {"cf/file-0123-name", "File-0123-NAME"},
		{"cf/FILE-0299-name", "File-0299-NAME"}, {"cf/README", "README"},
	} {
		var st abi.Stat
		if err := k.sys.Fstatat(abi.AT_FDCWD, k.dir+"/"+c.ask, &st, 0); err != nil {
			t.Errorf("stat %s: %v (want %s)", c.ask, err, c.found)
		}
	}
	var st abi.Stat
	if err := k.sys.Fstatat(abi.AT_FDCWD, k.dir+"/cf/READMEE", &st, 0); err == nil {
		t.Error("cf/READMEE found")
	}
	// Outside the casefolded directory, lookups are exact.
	if err := k.sys.Fstatat(abi.AT_FDCWD, k.dir+"/SMALL.TXT", &st, 0); err == nil {
		t.Error("SMALL.TXT found in the root, which is not casefolded")
	}
}

type libMount struct {
	sys interface {
		Fstatat(dirfd int, path string, st *abi.Stat, flags int) error
		Statx(dirfd int, path string, flags int, mask uint32, stx *abi.Statx) error
	}
	dir string
}

// mountLib mounts img in the library kernel.
func mountLib(t *testing.T, img string) libMount {
	t.Helper()
	d := cliflags.Disk{MemoryMB: 32}
	m, err := d.Mount(img, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Kernel.Halt() })
	return libMount{sys: m.Kernel, dir: m.Dir}
}

// Verity: the host kernel may lack CONFIG_FS_VERITY. The file is then
// made as ext4 stores it (Documentation/filesystems/fsverity.rst, "ext4"):
// the Merkle tree from the first 64 KiB boundary past i_size, the
// fsverity_descriptor after it from a block boundary, its size in the last
// four bytes of the last block, EXT4_VERITY_FL set; fsverity digest
// computes the tree and the descriptor.
const verityData = 200000

func verityContent() []byte {
	b := make([]byte, verityData)
	for i := range b {
		b[i] = byte(i*13 + i>>10)
	}
	return b
}

func craftVerity(t *testing.T, img string) {
	tools := testutil.Need(t, "fsverity", "debugfs")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	must(t, os.WriteFile(data, verityContent(), 0o644))
	tree, desc := filepath.Join(dir, "tree"), filepath.Join(dir, "desc")
	testutil.Run(t, tools[0], "digest", data, "--hash-alg=sha256", "--block-size=4096",
		"--out-merkle-tree="+tree, "--out-descriptor="+desc)
	const bs = 4096
	blob := verityContent()
	blob = append(blob, make([]byte, (65536-len(blob)%65536)%65536)...)
	tb, err := os.ReadFile(tree)
	must(t, err)
	blob = append(blob, tb...)
	blob = append(blob, make([]byte, (bs-len(blob)%bs)%bs)...)
	db, err := os.ReadFile(desc)
	must(t, err)
	blob = append(blob, db...)
	end := (len(blob) + 4 + bs - 1) / bs * bs
	blob = append(blob, make([]byte, end-len(blob))...)
	binary.LittleEndian.PutUint32(blob[end-4:], uint32(len(db)))
	full := filepath.Join(dir, "full")
	must(t, os.WriteFile(full, blob, 0o644))
	cmds := fmt.Sprintf("write %s verity.bin\nsif verity.bin size %d\nsif verity.bin flags 0x180000\n", full, verityData)
	cmdFile := filepath.Join(dir, "cmds")
	must(t, os.WriteFile(cmdFile, []byte(cmds), 0o644))
	testutil.Run(t, tools[1], "-w", "-f", cmdFile, img)
}

func expectVerity(t *testing.T, want testutil.Tree) {
	want["verity.bin"] = &testutil.Entry{Path: "verity.bin", Type: testutil.TypeFile, Mode: 0o644,
		Size: verityData, SHA256: sha256Hex(verityContent())}
}

// checkVerity: the file reads as its data only, and statx reports it as a
// verity file.
func checkVerity(t *testing.T, img string, got testutil.Tree) {
	k := mountLib(t, img)
	var stx abi.Statx
	if err := k.sys.Statx(abi.AT_FDCWD, k.dir+"/verity.bin", 0, abi.STATX_BASIC_STATS, &stx); err != nil {
		t.Fatal(err)
	}
	if stx.Attributes&abi.STATX_ATTR_VERITY == 0 || stx.Size != verityData {
		t.Errorf("statx: attributes %#x, size %d", stx.Attributes, stx.Size)
	}
	if e := got["verity.bin"]; e == nil || e.Size != verityData || e.Sparse {
		t.Errorf("verity.bin: %+v", e)
	}
}

// TestUnknownIncompat: an image with an INCOMPAT feature the reader does
// not know is refused, as Linux refuses it, with a message naming the
// feature; fs2tar exits 2 and writes nothing.
func TestUnknownIncompat(t *testing.T) {
	debugfs := testutil.Need(t, "debugfs")[0]
	for _, c := range []struct {
		bits uint32
		name string
	}{
		{0x8000000, "FEATURE_I27"},
		{0x1000, "dirdata"},
	} {
		img := filepath.Join(t.TempDir(), "fs.img")
		testutil.MkfsExt4(t, img, smallTree(t), "4M")
		inc := incompatOf(t, img)
		testutil.Run(t, debugfs, "-w", "-R", fmt.Sprintf("ssv feature_incompat %#x", inc|c.bits), img)
		r := fs2tar(t, img)
		if r.code != 2 || len(r.stdout) != 0 || !strings.Contains(r.stderr, "unsupported optional features") ||
			!strings.Contains(r.stderr, c.name) {
			t.Errorf("%s: exit %d, %d bytes out, stderr %q", c.name, r.code, len(r.stdout), r.stderr)
		}
	}
}

// incompatOf reads s_feature_incompat from the superblock.
func incompatOf(t *testing.T, img string) uint32 {
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	var b [4]byte
	_, err = f.ReadAt(b[:], 1024+0x60)
	must(t, err)
	return binary.LittleEndian.Uint32(b[:])
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
