//go:build linux

package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// The differential test (issue 11): many odd but readable ext4 images,
// made by mkfs.ext4 -d from testutil.MakeTree in odd layouts (old
// revisions, block maps, every block size, every directory hash, meta_bg,
// uninit_bg without checksums, inline data, encryption without the key,
// casefolding...) and then, most of them, mutated by debugfs in one to
// three seeded ways (a single field of an inode, a directory entry's
// type, a group's flags, the superblock's hash flags). Wherever the host
// kernel mounts an image read-only and reads an entry (lstat, readlink,
// read, llistxattr/getxattr), fs2tar's archive of the image must show the
// same entry: type, owner, mode, content, link target, device, xattrs.
// Entries fs2tar reads and the kernel does not are logged, not failed.
// Disagreeing images are kept in $TMPDIR and named in the failure.
//
// LKLIMG_DIFF_IMAGES sets how many images are made (default diffDefault,
// which fits in make test); LKLIMG_DIFF_SEED the seed (default 11).
const diffDefault = 20

// diffLayout is one way to make a base image.
type diffLayout struct {
	name string
	mkfs []string
	size string
	// setup runs on the fresh image, before any mutation: debugfs
	// commands (-w), then e2fsck -fyD when rehash is set (to index the
	// directories with the layout's hash).
	setup  []string
	rehash bool
}

// diffLayouts lists the odd layouts; the image number picks one.
func diffLayouts() []diffLayout {
	hash := func(alg string, sflags int) diffLayout {
		return diffLayout{name: fmt.Sprintf("hash-%s-sflags%d", alg, sflags),
			setup: []string{"ssv def_hash_version " + alg, fmt.Sprintf("ssv flags %d", sflags)}, rehash: true}
	}
	return []diffLayout{
		{name: "default"},
		{name: "rev0", mkfs: []string{"-r", "0", "-t", "ext2"}},
		{name: "ext2-1k", mkfs: []string{"-t", "ext2", "-b", "1024"}},
		{name: "ext2-4k-no-filetype", mkfs: []string{"-t", "ext2", "-O", "^filetype,^dir_index"}},
		{name: "ext3-2k", mkfs: []string{"-t", "ext3", "-b", "2048"}},
		{name: "ext4-no-extents", mkfs: []string{"-O", "^extent,^flex_bg,^64bit"}},
		{name: "64k-blocks", mkfs: []string{"-b", "65536"}, size: "256M"},
		hash("legacy", 1), hash("legacy", 2), hash("half_md4", 1), hash("half_md4", 2), hash("tea", 1), hash("tea", 2),
		{name: "meta_bg", mkfs: []string{"-O", "meta_bg,^resize_inode", "-b", "1024"}},
		{name: "flex_bg-2", mkfs: []string{"-G", "2", "-b", "1024"}},
		{name: "flex_bg-64", mkfs: []string{"-G", "64"}},
		{name: "uninit_bg", mkfs: []string{"-O", "^metadata_csum,uninit_bg", "-b", "1024"}},
		{name: "32bit-no-csum", mkfs: []string{"-O", "^64bit,^metadata_csum"}},
		{name: "huge_file-off", mkfs: []string{"-O", "^huge_file"}},
		{name: "inode-128", mkfs: []string{"-I", "128"}},
		{name: "inode-1024", mkfs: []string{"-I", "1024"}},
		// In-inode xattrs start after i_extra_isize: moving it hides them.
		{name: "extra_isize-varied", setup: []string{"sif /xattr/user extra_isize 0", "sif /xattr/many extra_isize 4",
			"sif /xattr/selinux extra_isize 12", "sif /acl/file extra_isize 16", "sif /xattr/symlink extra_isize 28",
			"sif /small.txt extra_isize 2"}},
		{name: "inline_data", mkfs: []string{"-O", "inline_data"}},
		{name: "encrypt-no-key", mkfs: []string{"-O", "encrypt"}, setup: []string{"sif /a flags 0x80800", "sif /small.txt flags 0x80800"}},
		{name: "casefold", mkfs: []string{"-O", "casefold"},
			setup: []string{"mkdir /cf", "sif /cf flags 0x40080000", "cd /cf", "write /dev/null README", "write /dev/null Straße", "mkdir Sub"}},
		{name: "large_dir", mkfs: []string{"-O", "large_dir"}, rehash: true},
		{name: "bigalloc", mkfs: []string{"-O", "bigalloc", "-C", "16384", "-N", "4096"}},
		{name: "ea_inode", mkfs: []string{"-O", "ea_inode"}},
		{name: "sparse_super2", mkfs: []string{"-O", "sparse_super2", "-b", "1024"}},
		{name: "no-sparse_super", mkfs: []string{"-O", "^sparse_super,^resize_inode", "-b", "1024"}},
		{name: "quota-project", mkfs: []string{"-O", "quota,project"}},
		{name: "orphan_file", mkfs: []string{"-O", "orphan_file"}},
		{name: "mmp", mkfs: []string{"-O", "mmp"}},
		{name: "csum_seed-stable_inodes", mkfs: []string{"-O", "metadata_csum_seed,stable_inodes"}},
		{name: "packed_meta_blocks", mkfs: []string{"-E", "packed_meta_blocks=1", "-O", "^resize_inode"}},
		{name: "ext3-128-no-dir_index", mkfs: []string{"-t", "ext3", "-I", "128", "-O", "^dir_index"}},
	}
}

// diffInode is what a mutation needs of an inode: its path and raw bytes.
type diffInode struct {
	path string
	raw  []byte
}

var reDumpLine = regexp.MustCompile(`^([0-7]{4,})  ((?:[0-9a-f]{4} ?){1,8})`)

// inodeDump returns the raw inode of path from debugfs's inode_dump
// (octal offsets, 16 bytes a line, "*" for lines repeated up to the
// next offset or to the inode's size).
func inodeDump(debugfs, img, p string, inodeSize int) ([]byte, error) {
	out, err := exec.Command(debugfs, "-R", "inode_dump \""+p+"\"", img).Output()
	if err != nil {
		return nil, err
	}
	var raw, last []byte
	repeat := false
	for _, line := range strings.Split(string(out), "\n") {
		if line == "*" {
			repeat = true
			continue
		}
		m := reDumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		off, _ := strconv.ParseInt(m[1], 8, 64)
		for repeat && int64(len(raw)) < off {
			raw = append(raw, last...)
		}
		repeat = false
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(m[2]), " ", ""))
		if err != nil || int64(len(raw)) != off {
			return nil, fmt.Errorf("inode_dump %s: bad line %q", p, line)
		}
		raw, last = append(raw, b...), b
	}
	for repeat && len(raw) < inodeSize {
		raw = append(raw, last...)
	}
	if len(raw) < 128 {
		return nil, fmt.Errorf("inode_dump %s: %d bytes", p, len(raw))
	}
	return raw, nil
}

// The inode flags a mutation flips (EXT4_*_FL): those a reader must
// honour or reject.
var diffFlags = []uint32{0x10, 0x20, 0x800, 0x1000, 0x4000, 0x40000, 0x80000, 0x100000, 0x200000, 0x10000000, 0x40000000}

// diffMutation is one seeded change to an image: debugfs commands, or a
// raw patch made after them (of the directory entry of a path, or of a
// path's inode bytes, whose checksum debugfs then sets again).
type diffMutation struct {
	cmds   []string
	what   string
	dirent string // patch the file type of this path's entry
	bytes  string // flip bits in this path's inode
	// xattrBlock, when not 0, is a block to flip bits in: the path's
	// xattr block (with metadata_csum, its checksum then fails).
	xattrBlock int64
}

// mutate returns one seeded mutation of an inode or a global structure.
func mutate(rnd *rand.Rand, ino diffInode, groups int, inodeSize int) diffMutation {
	le := binary.LittleEndian
	q := "\"" + ino.path + "\""
	switch rnd.IntN(13) {
	case 0, 1:
		fl := le.Uint32(ino.raw[0x20:]) ^ pick(rnd, diffFlags)
		return diffMutation{cmds: []string{fmt.Sprintf("sif %s flags %#x", q, fl)}, what: fmt.Sprintf("%s flags=%#x", ino.path, fl)}
	case 2:
		mode := le.Uint16(ino.raw[0:])
		if rnd.IntN(2) == 0 {
			mode = mode&0o7777 | pick(rnd, []uint16{0o010000, 0o020000, 0o040000, 0o060000, 0o100000, 0o120000, 0o140000, 0o170000})
		} else {
			mode ^= 1 << rnd.IntN(12)
		}
		return diffMutation{cmds: []string{fmt.Sprintf("sif %s mode 0%o", q, mode)}, what: fmt.Sprintf("%s mode=0%o", ino.path, mode)}
	case 3:
		n := pick(rnd, []int{0, 1, 2, int(le.Uint16(ino.raw[0x1A:])) + 1, 65000})
		return diffMutation{cmds: []string{fmt.Sprintf("sif %s links_count %d", q, n)}, what: fmt.Sprintf("%s links_count=%d", ino.path, n)}
	case 4:
		// One bit of i_block's first 24 bytes: the extent header and
		// first entry, or the first direct block pointers.
		w := rnd.IntN(6)
		v := le.Uint32(ino.raw[0x28+4*w:]) ^ 1<<rnd.IntN(32)
		return diffMutation{cmds: []string{fmt.Sprintf("sif %s block[%d] %#x", q, w, v)}, what: fmt.Sprintf("%s block[%d]=%#x", ino.path, w, v)}
	case 5:
		size := int64(le.Uint32(ino.raw[4:])) + int64(rnd.IntN(20000)) - 5000
		size = max(size, 0)
		return diffMutation{cmds: []string{fmt.Sprintf("sif %s size %d", q, size)}, what: fmt.Sprintf("%s size=%d", ino.path, size)}
	case 6:
		if inodeSize > 128 {
			x := pick(rnd, []int{0, 2, 4, 28, 32, 36, inodeSize - 128})
			return diffMutation{cmds: []string{fmt.Sprintf("sif %s extra_isize %d", q, x)}, what: fmt.Sprintf("%s extra_isize=%d", ino.path, x)}
		}
		return diffMutation{dirent: ino.path}
	case 7:
		g, fl := rnd.IntN(groups), rnd.IntN(8)
		return diffMutation{cmds: []string{fmt.Sprintf("set_bg %d flags %d", g, fl), fmt.Sprintf("set_bg %d checksum calc", g)},
			what: fmt.Sprintf("group %d bg_flags=%d", g, fl)}
	case 8:
		return diffMutation{dirent: ino.path}
	case 9, 10:
		return diffMutation{bytes: ino.path}
	case 11:
		if acl := int64(le.Uint32(ino.raw[0x68:])) | int64(le.Uint16(ino.raw[0x76:]))<<32; acl != 0 {
			return diffMutation{what: ino.path + " xattr block", xattrBlock: acl}
		}
		return diffMutation{bytes: ino.path}
	default:
		fl := rnd.IntN(4)
		return diffMutation{cmds: []string{fmt.Sprintf("ssv flags %d", fl)}, what: fmt.Sprintf("s_flags=%d", fl)}
	}
}

// direntTypePatch changes the file type of one entry in the first block
// of directory dir (found with debugfs), in place in img. With
// metadata_csum the block's checksum then fails, for both readers.
func direntTypePatch(rnd *rand.Rand, debugfs, img, dir string) (string, error) {
	out, err := exec.Command(debugfs, "-R", "blocks \""+dir+"\"", img).Output()
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return dir + ": no blocks (inline)", nil
	}
	blk, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return "", err
	}
	bs, err := blockSize(debugfs, img)
	if err != nil {
		return "", err
	}
	fd, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	b := make([]byte, bs)
	if _, err := fd.ReadAt(b, blk*bs); err != nil {
		return "", err
	}
	le := binary.LittleEndian
	var offs []int64
	for off := int64(0); off+12 <= bs; {
		rl := int64(le.Uint16(b[off+4:]))
		if le.Uint32(b[off:]) != 0 && b[off+6] > 0 {
			offs = append(offs, off)
		}
		if rl < 12 {
			break
		}
		off += rl
	}
	if len(offs) == 0 {
		return dir + ": no entry", nil
	}
	off := pick(rnd, offs)
	typ := byte(rnd.IntN(8))
	if _, err := fd.WriteAt([]byte{typ}, blk*bs+off+7); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s block %d entry %q file_type=%d", dir, blk, b[off+8:off+8+int64(b[off+6])], typ), nil
}

var reImap = regexp.MustCompile(`Inode (\d+) is part of block group \d+\s+located at block (\d+), offset (0x[0-9a-f]+)`)

// inodeBytesPatch flips one to three bits of the inode of p, in its first
// 128 bytes or in the extra fields and in-inode xattrs after them, and
// has debugfs set its checksum again (-n: the stale one is not checked).
func inodeBytesPatch(rnd *rand.Rand, debugfs, img, p string, inodeSize int) (string, error) {
	out, err := exec.Command(debugfs, "-R", "imap \""+p+"\"", img).Output()
	if err != nil {
		return "", err
	}
	m := reImap.FindSubmatch(out)
	if m == nil {
		return p + ": no inode location", nil
	}
	blk, _ := strconv.ParseInt(string(m[2]), 10, 64)
	off, _ := strconv.ParseInt(string(m[3]), 0, 64)
	bs, err := blockSize(debugfs, img)
	if err != nil {
		return "", err
	}
	lo, hi := 0, 128
	if inodeSize > 128 && rnd.IntN(2) == 0 {
		lo, hi = 128, inodeSize
	}
	flipped, err := flipBits(rnd, img, blk*bs+off, 1+rnd.IntN(3), func() int64 { return int64(lo + rnd.IntN(hi-lo)) })
	if err != nil {
		return "", err
	}
	exec.Command(debugfs, "-w", "-n", "-R", "sif <"+string(m[1])+"> checksum calc", img).Run()
	return fmt.Sprintf("%s inode bytes %s", p, flipped), nil
}

// blockFlips flips one to four bits of block blk, most in its first 128
// bytes (an xattr block's header and first entries).
func blockFlips(rnd *rand.Rand, debugfs, img string, blk int64) (string, error) {
	bs, err := blockSize(debugfs, img)
	if err != nil {
		return "", err
	}
	flipped, err := flipBits(rnd, img, blk*bs, 1+rnd.IntN(4), func() int64 {
		if rnd.IntN(4) == 0 {
			return rnd.Int64N(bs)
		}
		return int64(rnd.IntN(128))
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("block %d bytes %s", blk, flipped), nil
}

// flipBits flips one random bit of the byte at base+at() in img, n times,
// and returns the flips as "offset^bit" joined by commas.
func flipBits(rnd *rand.Rand, img string, base int64, n int, at func() int64) (string, error) {
	fd, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	var flipped []string
	for range n {
		off := at()
		var b [1]byte
		if _, err := fd.ReadAt(b[:], base+off); err != nil {
			return "", err
		}
		bit := byte(1 << rnd.IntN(8))
		b[0] ^= bit
		if _, err := fd.WriteAt(b[:], base+off); err != nil {
			return "", err
		}
		flipped = append(flipped, fmt.Sprintf("%#x^%#x", off, bit))
	}
	return strings.Join(flipped, ","), fd.Close()
}

// blockSize returns the image's block size, from debugfs stats.
func blockSize(debugfs, img string) (int64, error) {
	out, err := exec.Command(debugfs, "-R", "stats", img).Output()
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^Block size:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("debugfs stats: no block size")
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}

// diffFigures are the sweep's counts.
type diffFigures struct {
	made, mounted, refused, compared, agreed, bothFail int
	// reasons counts the disagreements by kind; refusedBy the images
	// the kernel would not mount, by layout.
	reasons, refusedBy map[string]int
}

// TestDifferential is the sweep described at the top of the file.
func TestDifferential(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "dumpe2fs", "e2fsck", "/usr/bin/time", "prlimit")
	testutil.NeedLoop(t)
	if os.Geteuid() != 0 {
		testutil.Skip(t, "the host kernel's view needs root")
	}
	n := diffDefault
	if s := os.Getenv("LKLIMG_DIFF_IMAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LKLIMG_DIFF_IMAGES=%q: want a count", s)
		}
	}
	seed := uint64(11)
	if s := os.Getenv("LKLIMG_DIFF_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LKLIMG_DIFF_SEED=%q: want a number", s)
		}
	}
	src := t.TempDir()
	testutil.MakeTree(t, src)
	// Mutations pick an entry of the big directory once in five times,
	// else any other entry (of every type).
	var paths, crowd []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != src && d.Type()&os.ModeSocket == 0 {
			rel := "/" + strings.TrimPrefix(p, src+"/")
			if strings.HasPrefix(rel, "/many/") {
				crowd = append(crowd, rel)
			} else {
				paths = append(paths, rel)
			}
		}
		return nil
	})
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	layouts := diffLayouts()
	rnd := rand.New(rand.NewPCG(seed, uint64(n)))
	fig := diffFigures{reasons: map[string]int{}, refusedBy: map[string]int{}}
	var failures, more []string
	img := filepath.Join(dir, "diff.img")
	start := time.Now()
	for i := range n {
		l := layouts[i%len(layouts)]
		what := l.name
		os.Remove(img)
		size := l.size
		if size == "" {
			size = "32M"
		}
		testutil.MkfsExt4(t, img, src, size, l.mkfs...)
		if len(l.setup) > 0 {
			runDebugfs(t, tools[1], img, l.setup)
		}
		if l.rehash {
			exec.Command(tools[3], "-fyD", img).Run() // exit 1: the directories were rehashed
		}
		// A third of the images stay as made; the others get one to
		// three mutations.
		if i%3 != 0 {
			var cmds, whats []string
			var raws []diffMutation
			inodeSize, groups := geometry(t, tools[2], img)
			for range 1 + rnd.IntN(3) {
				p := pick(rnd, paths)
				if rnd.IntN(5) == 0 && len(crowd) > 0 {
					p = pick(rnd, crowd)
				}
				raw, err := inodeDump(tools[1], img, p, inodeSize)
				if err != nil {
					t.Fatalf("%d %s: %v", i, what, err)
				}
				m := mutate(rnd, diffInode{p, raw}, groups, inodeSize)
				cmds, whats = append(cmds, m.cmds...), append(whats, m.what)
				if m.dirent != "" || m.bytes != "" || m.xattrBlock != 0 {
					raws = append(raws, m)
				}
			}
			runDebugfs(t, tools[1], img, cmds)
			for _, m := range raws {
				var w string
				var err error
				switch {
				case m.dirent != "":
					w, err = direntTypePatch(rnd, tools[1], img, pathDir(m.dirent))
				case m.xattrBlock != 0:
					w, err = blockFlips(rnd, tools[1], img, m.xattrBlock)
				default:
					w, err = inodeBytesPatch(rnd, tools[1], img, m.bytes, inodeSize)
				}
				if err != nil {
					t.Fatalf("%d %s: %v", i, what, err)
				}
				whats = append(whats, w)
			}
			what += ": " + strings.Join(slices.DeleteFunc(whats, func(s string) bool { return s == "" }), ", ")
		}
		fig.made++
		r, err := runCapped(tools[4], tools[5], "--no-journal", img)
		if err != nil {
			t.Fatalf("%d %s: %v", i, what, err)
		}
		if r.timedOut || r.code > 2 || strings.Contains(r.stderr, "panic:") {
			failures = append(failures, fmt.Sprintf("%d %s: fs2tar exit %d, timed out %v: %.500s (image kept as %s)",
				i, what, r.code, r.timedOut, r.stderr, keepImage(img, "diff", i)))
			continue
		}
		host, ok := hostMount(t, img, mnt)
		if !ok {
			fig.refused++
			fig.refusedBy[l.name]++
			continue
		}
		fig.mounted++
		if r.code == 2 {
			fig.reasons["fs2tar refuses an image the kernel mounts"]++
			failures = append(failures, fmt.Sprintf("%d %s: the kernel mounts it, fs2tar refuses: %.300s (image kept as %s)",
				i, what, r.stderr, keepImage(img, "diff", i)))
			continue
		}
		tree, err := scanTarLimited(r.tar)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%d %s: the archive is not readable: %v", i, what, err))
			continue
		}
		compared, moreBefore := 0, len(more)
		for _, p := range slices.Sorted(mapsKeys(host)) {
			switch h := host[p]; {
			case h.err == nil && h.typ != unix.S_IFSOCK:
				compared++
			case h.err != nil && tree[p] != nil && h.typ != unix.S_IFDIR:
				// (A directory the kernel lists only in part shows
				// as its entries, below.)
				more = append(more, fmt.Sprintf("%d %s: %s: the kernel fails (%v), fs2tar reads it", i, what, p, h.err))
			case h.err != nil:
				fig.bothFail++
			}
		}
		// Entries the kernel did not reach: only the top of each
		// subtree is logged.
		for _, p := range slices.Sorted(mapsKeys(tree)) {
			parent := "."
			if i := strings.LastIndexByte(p, '/'); i > 0 {
				parent = p[:i]
			}
			if host[p] == nil && host[parent] != nil {
				more = append(more, fmt.Sprintf("%d %s: %s: in the archive, not reached by the kernel", i, what, p))
			}
		}
		if len(more) > moreBefore {
			more = append(more, fmt.Sprintf("%d %s: image kept as %s", i, what, keepImage(img, "diff-more", i)))
		}
		diffs := compareHost(host, tree)
		fig.compared += compared
		fig.agreed += compared - len(diffs)
		for _, d := range diffs {
			fig.reasons[diffReason(d)]++
		}
		if len(diffs) > 0 {
			shown := diffs
			if len(shown) > 5 {
				shown = append(shown[:5:5], fmt.Sprintf("... %d more", len(diffs)-5))
			}
			failures = append(failures, fmt.Sprintf("%d %s (image kept as %s):\n\t%s\n\tfs2tar: %.500s",
				i, what, keepImage(img, "diff", i), strings.Join(shown, "\n\t"), r.stderr))
		}
	}
	t.Logf("differential: %d images made in %v; the kernel mounted %d, refused %d; %d entries compared, %d agree; "+
		"%d entries neither reads, %d subtrees read by fs2tar only",
		fig.made, time.Since(start).Round(time.Second), fig.mounted, fig.refused, fig.compared, fig.agreed, fig.bothFail, len(more))
	t.Logf("the kernel refused: %v", fig.refusedBy)
	for _, k := range slices.Sorted(mapsKeys(fig.reasons)) {
		t.Logf("disagreement: %d x %s", fig.reasons[k], k)
	}
	for _, m := range more {
		t.Logf("fs2tar reads more: %s", m)
	}
	for _, f := range failures {
		t.Errorf("disagreement: %s", f)
	}
}

// diffReason is the kind of a compareHost difference, for the figures.
func diffReason(d string) string {
	for _, k := range []string{"missing from the archive", "type", "mode/owner", "content", "target", "xattrs"} {
		if strings.Contains(d, k) {
			return k
		}
	}
	return "other"
}

// pathDir is the directory a path's entry is in.
func pathDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// runDebugfs runs debugfs commands read-write on img; errors in them are
// the mutation's business (a command may fail on what an earlier one
// changed).
func runDebugfs(t *testing.T, debugfs, img string, cmds []string) {
	t.Helper()
	script := img + ".debugfs"
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(debugfs, "-w", "-f", script, img).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
}

// geometry returns the inode size and group count from dumpe2fs -h.
func geometry(t *testing.T, dumpe2fs, img string) (inodeSize, groups int) {
	out, err := exec.Command(dumpe2fs, "-h", img).Output()
	if err != nil {
		t.Fatalf("dumpe2fs: %v", err)
	}
	field := func(k string) int {
		m := regexp.MustCompile(`(?m)^` + k + `:\s+(\d+)`).FindSubmatch(out)
		if m == nil {
			return 0
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	inodeSize = max(field("Inode size"), 128)
	groups = max(1, (field("Block count")-field("First block")+field("Blocks per group")-1)/max(1, field("Blocks per group")))
	return inodeSize, groups
}
