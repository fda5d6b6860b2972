//go:build linux

package ext4

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

// Images in states mke2fs never makes but Linux reads; each is read as
// the host kernel reads it (cmd/fs2tar's TestDifferential compares the
// two on many more).

// craftImage makes an image of size from src with mkfs.ext4 and opts,
// then runs each debugfs script on it (-w, plus the flags before the
// script's commands).
func craftImage(t *testing.T, src, size string, opts []string, scripts ...[]string) string {
	t.Helper()
	tools := testutil.Need(t, "mkfs.ext4", "debugfs")
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.Run(t, "truncate", "-s", size, img)
	testutil.Run(t, tools[0], append(append([]string{"-q", "-F", "-E", "root_owner=0:0", "-d", src}, opts...), img)...)
	for _, s := range scripts {
		var flags []string
		for len(s) > 0 && strings.HasPrefix(s[0], "-") {
			flags, s = append(flags, s[0]), s[1:]
		}
		script := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(script, []byte(strings.Join(s, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, tools[1], append(append([]string{"-w"}, flags...), "-f", script, img)...)
	}
	return img
}

// TestInodeInUninitGroup: an inode in a group whose descriptor says
// INODE_UNINIT, or past the group's bg_itable_unused mark, is read from
// the inode table all the same: ext4_iget calls __ext4_get_inode_loc
// without an in-memory inode, which reads the table block whatever the
// descriptor says (e2fsck calls the entries PR_2_INOREF_BG_INO_UNINIT and
// PR_2_INOREF_IN_UNUSED; Linux shows them).
func TestInodeInUninitGroup(t *testing.T) {
	// 8 groups of 256 inodes, all but group 0 INODE_UNINIT. The
	// directory made as inode 12 is copied to inode 300 (group 1); its
	// block, whose checksum names inode 12, is rewritten by a link made
	// with checksums ignored. Its file, inode 13, is copied to inode
	// 200, past group 0's used inodes.
	img := craftImage(t, t.TempDir(), "64M", []string{"-N", "2048"},
		[]string{"mkdir /d", "write /dev/null /d/g", "copy_inode <12> <300>", "link <300> /moved", "unlink /d",
			"copy_inode <13> <200>", "link <200> /unused"},
		[]string{"-n", "link <13> /moved/g2"})
	out := string(testutil.Run(t, "dumpe2fs", img))
	if !strings.Contains(out, "Group 1: (Blocks 8193-16384) csum") || !strings.Contains(strings.SplitN(strings.SplitN(out, "Group 1:", 2)[1], "\n", 2)[0], "INODE_UNINIT") {
		t.Fatalf("group 1 is not INODE_UNINIT:\n%.2000s", out)
	}
	sb, _ := mountImage(t, img)
	moved, err := lookupPath(sb, "moved")
	if err != nil {
		t.Fatalf("moved (inode 300, group 1 INODE_UNINIT): %v", err)
	}
	ents, err := readDirAll(moved)
	if err != nil {
		t.Fatalf("readdir moved: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "g g2" {
		t.Errorf("moved: entries %q", got)
	}
	if _, err := lookupPath(sb, "moved/g2"); err != nil {
		t.Errorf("moved/g2: %v", err)
	}
	if ip, err := lookupPath(sb, "unused"); err != nil {
		t.Errorf("unused (inode 200, past bg_itable_unused): %v", err)
	} else if a, _ := ip.Getattr(); a.Ino != 200 || a.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("unused: %+v", a)
	}
}

// TestFastSymlinkEAInode: with the ea_inode feature a symlink is fast
// when its size fits in i_block, whatever its i_blocks says
// (ext4_inode_is_fast_symlink): Linux charges an xattr value kept in an
// ea_inode to its owner's i_blocks, so "ln -s foo bar; setfattr -h -n
// trusted.x -v <3000 bytes> bar" leaves a fast link with 6 sectors
// counted. mke2fs -d does not charge them; debugfs sets i_blocks as the
// kernel leaves it.
func TestFastSymlinkEAInode(t *testing.T) {
	src := t.TempDir()
	big := bytes.Repeat([]byte("x"), 3000)
	if err := os.Symlink("foo", filepath.Join(src, "bar")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "bar"), "trusted.big", big, 0); err != nil {
		testutil.Skip(t, "trusted xattr on a symlink: %v", err)
	}
	img := craftImage(t, src, "8M", []string{"-O", "ea_inode,^has_journal"},
		[]string{"sif /bar blocks 6"})
	if !strings.Contains(string(testutil.Run(t, "debugfs", "-R", "stat /bar", img)), "Blockcount: 6") {
		t.Fatal("debugfs did not set i_blocks")
	}
	sb, _ := mountImage(t, img)
	ip, err := lookupPath(sb, "bar")
	if err != nil {
		t.Fatal(err)
	}
	if target, err := ip.(vfs.Readlinker).Readlink(); err != nil || target != "foo" {
		t.Errorf("readlink: %q, %v; want \"foo\"", target, err)
	}
	if v, err := ip.(vfs.Xattrer).Getxattr("trusted.big"); err != nil || !bytes.Equal(v, big) {
		t.Errorf("trusted.big: %d bytes, %v", len(v), err)
	}
}

// TestSymlinkXattrBlock: a symlink's attributes in an attribute block
// (128-byte inodes have no in-inode room) are listed and read, for a
// fast link (whose i_blocks counts only that block) and a slow one.
func TestSymlinkXattrBlock(t *testing.T) {
	src := t.TempDir()
	val := bytes.Repeat([]byte("v"), 500)
	slow := strings.Repeat("t/", 40)
	for name, target := range map[string]string{"fast": "foo", "slow": slow} {
		p := filepath.Join(src, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := unix.Lsetxattr(p, "trusted.t", val, 0); err != nil {
			testutil.Skip(t, "trusted xattr on a symlink: %v", err)
		}
	}
	img := craftImage(t, src, "8M", []string{"-I", "128", "-O", "^has_journal"})
	sb, _ := mountImage(t, img)
	for name, target := range map[string]string{"fast": "foo", "slow": slow} {
		ip, err := lookupPath(sb, name)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ip.(vfs.Readlinker).Readlink(); err != nil || got != target {
			t.Errorf("%s: readlink %q, %v", name, got, err)
		}
		if names, err := ip.(vfs.Xattrer).Listxattr(); err != nil || strings.Join(names, " ") != "trusted.t" {
			t.Errorf("%s: listxattr %q, %v", name, names, err)
		}
		if v, err := ip.(vfs.Xattrer).Getxattr("trusted.t"); err != nil || !bytes.Equal(v, val) {
			t.Errorf("%s: trusted.t: %d bytes, %v", name, len(v), err)
		}
	}
}

// TestSlowSymlinkOddSize: ext4_get_link reads a slow link's block 0
// whatever i_size says and cuts the target at i_size: a size of 0 is the
// empty target (Linux's readlink returns 0 bytes); a hole at block 0 is
// "bad symlink" (EUCLEAN). A fast link whose i_size is 0, or is not its
// target's length, fails ext4_iget ("invalid fast symlink length"): the
// name is there, its lookup is EUCLEAN.
func TestSlowSymlinkOddSize(t *testing.T) {
	src := t.TempDir()
	slow := strings.Repeat("s", 80)
	for _, name := range []string{"empty", "hole", "fast", "fast-shorter", "fast-longer"} {
		target := slow
		if strings.HasPrefix(name, "fast") {
			target = "short"
		}
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	img := craftImage(t, src, "4M", []string{"-t", "ext2"},
		[]string{"sif /empty size 0", "sif /hole block[0] 0", "sif /fast size 0", "sif /fast-shorter size 3", "sif /fast-longer size 7"})
	sb, _ := mountImage(t, img)
	for _, name := range []string{"fast", "fast-shorter", "fast-longer"} {
		_, err := lookupPath(sb, name)
		wantErr(t, name, err, abi.EUCLEAN, "invalid fast symlink length")
	}
	for _, c := range []struct {
		name, target string
		err          bool
	}{{"empty", "", false}, {"hole", "", true}} {
		ip, err := lookupPath(sb, c.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ip.(vfs.Readlinker).Readlink()
		if c.err {
			wantErr(t, c.name, err, abi.EUCLEAN)
		} else if err != nil || got != c.target {
			t.Errorf("%s: readlink %q, %v; want %q", c.name, got, err, c.target)
		}
	}
}

// TestInlineFlagWithoutData: EXT4_INLINE_DATA_FL without a system.data
// attribute in the inode is no inline data for Linux (ext4_has_inline_data
// needs i_inline_off): a block-mapped file and directory read through
// their block maps, as the host kernel shows them.
func TestInlineFlagWithoutData(t *testing.T) {
	src := t.TempDir()
	data := bytes.Repeat([]byte("block-mapped "), 500)
	if err := os.WriteFile(filepath.Join(src, "file"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	img := craftImage(t, src, "4M", []string{"-t", "ext3"},
		[]string{"sif /file flags 0x10000000", "sif /d flags 0x10000000"})
	sb, _ := mountImage(t, img)
	ip, err := lookupPath(sb, "file")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(ip, 1000); err != nil || !bytes.Equal(got, data) {
		t.Errorf("file: %d bytes, %v; want its %d bytes", len(got), err, len(data))
	}
	if _, err := lookupPath(sb, "d/f"); err != nil {
		t.Errorf("d/f: %v", err)
	}
}
