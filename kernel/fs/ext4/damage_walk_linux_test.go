//go:build linux

package ext4_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// damageCase is an image made by mkfs.ext4 with opts from a tree of
// files (name to size), then damaged by debugfs's requests and by
// damage, and the lines its walk (walkImage) must hold.
type damageCase struct {
	name   string
	opts   []string
	files  map[string]int
	index  bool // e2fsck -fD indexes the directories first
	debugs []string
	damage func(t *testing.T, img string)
	want   []string
}

// TestDamageWalks walks damaged images as TestE2fsprogsImages walks
// e2fsprogs' (the cases its sweep found), checks the lines each walk
// must hold, and with loop devices compares the whole walk with the
// host kernel's.
func TestDamageWalks(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	cases := []damageCase{{
		// ext4_load_super: EFSBADCRC (f_super_bad_csum).
		name: "superblock checksum",
		opts: []string{"-b", "1024", "-O", "metadata_csum,^has_journal"},
		damage: func(t *testing.T, img string) {
			patchImage(t, img, 1024+0x30, []byte{0xFF})
		},
		want: []string{"mount EBADMSG\n"},
	}, {
		// A block bitmap on the superblock: ext4_check_descriptors
		// lets a read-only mount by, add_system_zone refuses it
		// (f_miss_blk_bmap).
		name:   "bitmap on the superblock",
		opts:   []string{"-b", "1024", "-O", "^metadata_csum,^has_journal"},
		debugs: []string{"set_bg 0 block_bitmap 1"},
		want:   []string{"mount EUCLEAN\n"},
	}, {
		// An inode table starting on the inode bitmap
		// (f_overfsblks).
		name: "inode table on a bitmap",
		opts: []string{"-b", "1024", "-O", "^metadata_csum,^has_journal,^flex_bg"},
		damage: func(t *testing.T, img string) {
			ibm := debugfsNum(t, img, "stats", `Group  0: .*inode bitmap at (\d+)`)
			testutil.Run(t, "debugfs", "-w", "-R", "set_bg 0 inode_table "+strconv.FormatInt(ibm, 10), img)
		},
		want: []string{"mount EUCLEAN\n"},
	}, {
		// A pointer outside the filesystem in the indirect block,
		// for logical block 17: the pages before the one holding it
		// read, then EIO (f_lotsbad, f_itable_collision); the
		// indirect block's other pointers map (ext4_check_blockref
		// fails only its first reading).
		name:  "indirect block",
		opts:  []string{"-b", "1024", "-O", "^extent,^64bit,^has_journal,^metadata_csum"},
		files: map[string]int{"f": 40 << 10},
		damage: func(t *testing.T, img string) {
			ind := debugfsNum(t, img, "stat /f", `\(IND\):(\d+)`)
			patchImage(t, img, ind*1024+4*5, binary.LittleEndian.AppendUint32(nil, 0xFFFFFF))
		},
		want: []string{"/f read 16384 ", " EIO\n"},
	}, {
		// A directory linked below itself: the root as /d/root,
		// /d as /d/e/up (f_baddir). d_splice_alias refuses the
		// lookups (ELOOP); the root's other names read.
		name:   "directory loop",
		opts:   []string{"-b", "1024", "-O", "^has_journal"},
		files:  map[string]int{"d/e/f": 10},
		debugs: []string{"ln <2> /d/root", "ln /d /d/e/up", "ln /d/e /d/e2"},
		want:   []string{"/d/root lstat ELOOP\n", "/d/e/up lstat ELOOP\n", "/d/e2 mode 40"},
	}, {
		// A hole where the index has a leaf: the names of the
		// leaves before it are listed, the last one too, then
		// EUCLEAN ("Directory hole found for htree leaf block",
		// f_holedir3).
		name:   "htree leaf hole",
		opts:   []string{"-b", "1024", "-O", "^has_journal,^metadata_csum"},
		files:  manyFiles("d/", 300),
		index:  true,
		debugs: []string{"punch /d 3 3"},
		want:   []string{"/d list ", " EUCLEAN\n"},
	}, {
		// The first and third leaves swapped in the index: each fill lists the
		// names of its leaves from its start hash on, the next
		// goes back to lower hashes (ext4_dx_readdir); names in
		// the wrong leaf are not found by lookup (f_h_reindex).
		name:  "htree leaves swapped",
		opts:  []string{"-b", "1024", "-O", "^has_journal,^metadata_csum"},
		files: manyFiles("d/", 300),
		index: true,
		damage: func(t *testing.T, img string) {
			b := debugfsNum(t, img, "bmap /d 0", `(\d+)`) * 1024
			// dx_root: entry i (i >= 1) at 0x20+8i, its block at +4.
			raw := make([]byte, 8)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.ReadAt(raw[:4], b+0x28+4)
			f.ReadAt(raw[4:], b+0x38+4)
			f.WriteAt(raw[4:], b+0x28+4)
			f.WriteAt(raw[:4], b+0x38+4)
		},
		want: []string{"/d list ", " ok\n"},
	}}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			src := t.TempDir()
			for n, size := range c.files {
				os.MkdirAll(filepath.Dir(filepath.Join(src, n)), 0o755)
				data := bytes.Repeat([]byte(n+" data "), size/(len(n)+6)+1)[:size]
				if err := os.WriteFile(filepath.Join(src, n), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			img := filepath.Join(t.TempDir(), "fs.img")
			testutil.MkfsExt4(t, img, src, "4M", c.opts...)
			if c.index {
				// Exit status 1: directories optimised.
				exec.Command("e2fsck", "-fyD", img).Run()
				if !strings.Contains(testutil.DebugfsOut(t, img, "htree /d"), "Root node dump") {
					t.Fatal("/d is not indexed")
				}
			}
			for _, d := range c.debugs {
				testutil.Run(t, "debugfs", "-w", "-R", d, img)
			}
			if c.damage != nil {
				c.damage(t, img)
			}
			ours := ourImageWalk(t, img)
			for _, w := range c.want {
				if !strings.Contains(ours, w) {
					t.Errorf("our walk has no %q:\n%s", w, ours)
				}
			}
			if !testutil.CanLoop() {
				return
			}
			if host := hostImageWalk(t, img); host != ours {
				t.Errorf("the host's walk:\n%s\nours:\n%s", host, ours)
			}
		})
	}
}

// manyFiles names n empty files under dir, with long names, so that
// their directory is indexed over many leaves.
func manyFiles(dir string, n int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m[dir+strings.Repeat("f", 30)+strconv.Itoa(i)] = 0
	}
	return m
}

// debugfsNum is the number the first group of pattern matches in the
// output of debugfs's request req on img.
func debugfsNum(t *testing.T, img, req, pattern string) int64 {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(testutil.DebugfsOut(t, img, req))
	if m == nil {
		t.Fatalf("debugfs %q: no %q", req, pattern)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// patchImage writes b at off in img.
func patchImage(t *testing.T, img string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
