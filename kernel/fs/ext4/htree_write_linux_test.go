package ext4

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// dxLevels returns the indirect_levels of an indexed directory's root, or
// -1 when it is not indexed.
func dxLevels(t *testing.T, f *fsys, path string) int {
	t.Helper()
	d := rwDir(t, f, path)
	if !d.isIndexed() {
		return -1
	}
	runs, err := d.blockRuns()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, f.BlockSize)
	if _, err := d.dirBlock(runs, 0, buf); err != nil {
		t.Fatal(err)
	}
	return int(buf[disk.DxRootInfoOffset+6])
}

// checkHostNames compares the names in a directory of the loop-mounted
// image with want.
func checkHostNames(t *testing.T, dir string, want map[string]bool) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range ents {
		if !want[e.Name()] {
			t.Errorf("host sees %q, not expected", e.Name())
			continue
		}
		got++
	}
	if got != len(want) {
		t.Errorf("host sees %d of the %d names", got, len(want))
	}
	// Looking names up goes through the index (a readdir does not).
	i := 0
	for name := range want {
		if i++; len(want) > 2000 && i%97 != 0 {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("host lookup: %v", err)
		}
	}
}

// TestHtreeGrow fills one directory with 100,000 new files, so that it is
// made indexed, its leaves split and its index grows a level, then
// removes every other one; each name is looked up through the index, and
// e2fsck and the host kernel check the result.
func TestHtreeGrow(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 20000
	}
	img := mkfsTree(t, "256M", []string{"-N", fmt.Sprint(n + 1000)}, func(src string) {
		os.Mkdir(filepath.Join(src, "big"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	big := rwDir(t, f, "big")
	name := func(i int) string { return fmt.Sprintf("file-%06d-%s", i, strings.Repeat("n", i%13)) }
	for i := range n {
		ip, err := big.Create(nowCtx, name(i), 0o644)
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		ip.(vfs.Evicter).Evict()
	}
	if l := dxLevels(t, f, "big"); l < 1 && n == 100000 {
		t.Errorf("indirect levels %d after %d names, want >= 1", l, n)
	}
	want := map[string]bool{}
	for i := range n {
		in, err := big.Lookup(name(i))
		if err != nil {
			t.Fatalf("lookup %s: %v", name(i), err)
		}
		in.(vfs.Evicter).Evict()
		if i%2 == 1 {
			wantErrno(t, "unlink", big.Unlink(nowCtx, name(i)), 0)
		} else {
			want[name(i)] = true
		}
	}
	if _, err := big.Lookup(name(1)); !errors.Is(err, abi.ENOENT) {
		t.Errorf("lookup of a removed name: %v", err)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	checkHostNames(t, filepath.Join(loopMount(t, img), "big"), want)
}

// TestHtreeLevels fills directories of 1 KiB blocks with 250-byte names
// (hard links to one file), a few to a leaf, so that the index needs every
// level it may have: three with large_dir, while without it the
// directory fills up with ENOSPC, as Linux's "Directory index full".
func TestHtreeLevels(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		n        int
		levels   int
		wantFull bool
	}{
		{"large_dir", []string{"-O", "large_dir"}, 33000, 2, false},
		{"no_large_dir", nil, 40000, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("slow")
			}
			img := mkfsTree(t, "128M", append([]string{"-b", "1024"}, c.args...), func(src string) {
				mustWrite(t, filepath.Join(src, "d/f"), "x")
			})
			f, _ := mountImageRW(t, img)
			d := rwDir(t, f, "d")
			target, err := d.Lookup("f")
			wantErrno(t, "lookup", err, 0)
			name := func(i int) string { return fmt.Sprintf("%06d-%s", i, strings.Repeat("z", 243)) }
			want := map[string]bool{"f": true}
			full := false
			for i := range c.n {
				err := d.Link(nowCtx, name(i), target)
				if errors.Is(err, abi.ENOSPC) && c.wantFull {
					full = true
					break
				}
				wantErrno(t, "link "+name(i), err, 0)
				want[name(i)] = true
			}
			if full != c.wantFull {
				t.Errorf("directory full: %v, want %v", full, c.wantFull)
			}
			if l := dxLevels(t, f, "d"); l != c.levels {
				t.Errorf("indirect levels %d, want %d", l, c.levels)
			}
			// Every name is found through the index.
			for nm := range want {
				if _, err := d.Lookup(nm); err != nil {
					t.Fatalf("lookup %s: %v", nm, err)
				}
			}
			// Drop most links again, so that the count fits and leaves
			// empty out.
			for i := range c.n {
				if !want[name(i)] || i%4 == 0 {
					continue
				}
				wantErrno(t, "unlink", d.Unlink(nowCtx, name(i)), 0)
				delete(want, name(i))
			}
			umountRW(t, f)
			e2fsckClean(t, img)
			host := filepath.Join(loopMount(t, img), "d")
			checkHostNames(t, host, want)
			if st, ok := hostStat(t, filepath.Join(host, "f")); !ok || st.nlink != uint64(len(want)) {
				t.Errorf("host: f has %d links, want %d", st.nlink, len(want))
			}
		})
	}
}

// TestMakeIndexed grows one-block directories past their block on each
// layout: the directory is made indexed (with dir_index) or gets linear
// blocks (without), and names stay found.
func TestMakeIndexed(t *testing.T) {
	for _, v := range append(slices.Clone(nameiVariants),
		nameiVariant{"nodirindex", []string{"-O", "^dir_index"}},
		nameiVariant{"tea", nil},
		nameiVariant{"legacy", nil},
		nameiVariant{"unsigned", nil}) {
		t.Run(v.name, func(t *testing.T) {
			img := mkfsTree(t, "32M", v.args, func(src string) {
				os.Mkdir(filepath.Join(src, "d"), 0o755)
				os.Mkdir(filepath.Join(src, "e"), 0o755)
				os.Mkdir(filepath.Join(src, "other"), 0o755)
			})
			switch v.name {
			case "unsigned":
				// As mkfs leaves it on a machine whose char is unsigned.
				testutil.Run(t, "debugfs", "-w", "-R", "ssv flags 2", img)
			case "tea", "legacy":
				testutil.Run(t, "tune2fs", "-E", "hash_alg="+v.name, img)
			}
			f, _ := mountImageRW(t, img)
			if v.name == "unsigned" && f.hashSigned {
				t.Fatal("hash still signed")
			}
			fill := func(d dirInode) map[string]bool {
				want := map[string]bool{}
				for i := 0; i < 300; i++ {
					// Bytes past 0x7f hash apart with signed and unsigned chars.
					nm := fmt.Sprintf("entry-%d-%s-é", i, strings.Repeat("q", i%40))
					var err error
					if i%3 == 0 {
						_, err = d.Mkdir(nowCtx, nm, 0o755)
					} else {
						_, err = d.Create(nowCtx, nm, 0o644)
					}
					wantErrno(t, "add "+nm, err, 0)
					want[nm] = true
				}
				for nm := range want {
					if _, err := d.Lookup(nm); err != nil {
						t.Fatalf("lookup %s: %v", nm, err)
					}
				}
				if d.isIndexed() != f.Super.HasCompat(disk.CompatDirIndex) {
					t.Errorf("indexed %v with dir_index %v", d.isIndexed(), f.Super.HasCompat(disk.CompatDirIndex))
				}
				if a, _ := d.Getattr(); a.Nlink != 2+100 {
					t.Errorf("nlink %d, want 102", a.Nlink)
				}
				return want
			}
			want := fill(rwDir(t, f, "d"))
			// Move the grown directory: its ".." (in the dx root when
			// indexed) names the new parent.
			wantErrno(t, "move d", rwDir(t, f, "").Rename(nowCtx, "d", rwDir(t, f, "other"), "d", 0), 0)
			// Empty another one name by name, then remove it.
			e := rwDir(t, f, "e")
			names := fill(e)
			wantErrno(t, "rmdir full e", rwDir(t, f, "").Rmdir(nowCtx, "e"), abi.ENOTEMPTY)
			for nm := range names {
				if err := e.Rmdir(nowCtx, nm); errors.Is(err, abi.ENOTDIR) {
					wantErrno(t, "unlink e/"+nm, e.Unlink(nowCtx, nm), 0)
				} else {
					wantErrno(t, "rmdir e/"+nm, err, 0)
				}
			}
			wantErrno(t, "rmdir emptied e", rwDir(t, f, "").Rmdir(nowCtx, "e"), 0)
			umountRW(t, f)
			e2fsckClean(t, img)
			mnt := loopMount(t, img)
			checkHostNames(t, filepath.Join(mnt, "other/d"), want)
			if _, ok := hostStat(t, filepath.Join(mnt, "e")); ok {
				t.Errorf("host: e still there")
			}
		})
	}
}

// dxLeafKey is a leaf of an index with the hash that leads to it and the
// level of the index entry holding that hash: the last level for a leaf
// that is not the first of its node, a level above it for the first one
// (a node's first entry has no hash; its parent's entry has it).
type dxLeafKey struct {
	hash, level int64
	blk         uint64
}

// dxLeafKeys walks the index of d and returns its leaves in hash order.
func dxLeafKeys(t *testing.T, d dirInode) []dxLeafKey {
	t.Helper()
	runs, err := d.blockRuns()
	if err != nil {
		t.Fatal(err)
	}
	levels := int64(-1)
	var out []dxLeafKey
	var walk func(lblk uint64, level int64, key dxLeafKey)
	walk = func(lblk uint64, level int64, key dxLeafKey) {
		b := make([]byte, d.f.BlockSize)
		if ok, err := d.dirBlock(runs, lblk, b); err != nil || !ok {
			t.Fatalf("index block %d: %v", lblk, err)
		}
		co, _ := disk.DxCountOffset(b, d.f.BlockSize)
		if level == 0 {
			levels = int64(b[disk.DxRootInfoOffset+6])
		}
		ents, count, err := disk.DxEntries(b, co)
		if err != nil {
			t.Fatalf("index block %d: %v", lblk, err)
		}
		for i := range count {
			k := key
			if i > 0 {
				k = dxLeafKey{hash: int64(le.Uint32(ents[i*disk.DxEntrySize:])), level: level}
			}
			k.blk = uint64(le.Uint32(ents[i*disk.DxEntrySize+4:]) & 0x0fffffff)
			if level == levels {
				out = append(out, k)
			} else {
				walk(k.blk, level+1, k)
			}
		}
	}
	walk(0, 0, dxLeafKey{})
	return out
}

// CollidingNames returns 250-byte names whose signed (or unsigned)
// half-MD4 hashes under seed (s_hash_seed) collide in groups of two or
// more, found among n candidates that differ only in their last 32-byte
// chunk, in the order of the candidates. ext4fs_dirhash hashes a name 32
// bytes at a time from the seed on, so the state after the common prefix
// is computed once and is the seed of the last chunk's hash: one
// transform a candidate instead of eight. Exported for the kernel-level
// tests (package ext4_test).
func CollidingNames(seed [4]uint32, signed bool, n int) []string {
	const prefixLen = 7 * 32
	prefix := []byte(strings.Repeat("c", prefixLen))
	name := func(i int) string { return fmt.Sprintf("%s%019d", prefix, i) }
	state := seed
	if state == [4]uint32{} {
		state = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	}
	var in [8]uint32
	for p := prefix; len(p) > 0; p = p[32:] {
		disk.Str2hashbuf(p, in[:], signed)
		disk.HalfMD4Transform(&state, &in)
	}
	version := uint8(disk.HashHalfMD4Unsigned)
	if signed {
		version = disk.HashHalfMD4
	}
	keys := make([]uint64, n)
	for i := range n {
		h, _, _ := disk.DirHash(version, []byte(name(i)[prefixLen:]), state)
		keys[i] = uint64(h)<<32 | uint64(i)
	}
	slices.Sort(keys)
	var out []string
	for i := 0; i < n; {
		j := i + 1
		for j < n && keys[j]>>32 == keys[i]>>32 {
			j++
		}
		for k := i; j-i > 1 && k < j; k++ {
			out = append(out, name(int(uint32(keys[k]))))
		}
		i = j
	}
	// In the order of the candidates, not of the hashes, so that the
	// names go to leaves all over the index.
	slices.Sort(out)
	return out
}

// TestHtreeCollisions fills a directory of 1 KiB blocks with names whose
// hashes collide in pairs, so that leaf splits leave many a hash on both
// sides of a leaf boundary (the next leaf's index entry has the
// "continued" low bit), some of them at a boundary between index nodes,
// where the leaf after the last one of a node is the first of the next
// node, its hash being in the parent's next entry (ext4_htree_next_block).
// Every name must be found through the index and unlinked, and e2fsck and
// the host kernel must agree. The hash seed is fixed, so the layout is the
// same on every run.
func TestHtreeCollisions(t *testing.T) {
	img := mkfsTree(t, "64M", []string{"-b", "1024", "-E", "hash_seed=59e2160b-3211-4cd7-833e-a866ed52ea0e"}, func(src string) {
		mustWrite(t, filepath.Join(src, "d/f"), "x")
	})
	f, _ := mountImageRW(t, img)
	if f.Super.SDefHashVersion != disk.HashHalfMD4 {
		t.Fatalf("hash version %d, want half_md4", f.Super.SDefHashVersion)
	}
	d := rwDir(t, f, "d")
	target, err := d.Lookup("f")
	wantErrno(t, "lookup", err, 0)
	names := CollidingNames(f.Super.SHashSeed, f.hashSigned, 1<<21)
	if len(names) < 1000 {
		t.Fatalf("only %d colliding names", len(names))
	}
	// The shortcut must give the names' hashes.
	same := map[uint32]int{}
	for _, nm := range names {
		h, _ := d.dxHash(f.Super.SDefHashVersion, []byte(nm))
		same[h]++
	}
	for h, n := range same {
		if n < 2 {
			t.Fatalf("hash %#x: %d name", h, n)
		}
	}
	short := func(nm string) string { return nm[len(nm)-min(len(nm), 19):] }
	for _, nm := range names {
		wantErrno(t, "link "+short(nm), d.Link(nowCtx, nm, target), 0)
	}
	continued, across := 0, 0
	levels := int64(dxLevels(t, f, "d"))
	for _, k := range dxLeafKeys(t, d) {
		if k.hash&1 != 0 {
			continued++
			if k.level < levels {
				across++
			}
		}
	}
	t.Logf("%d names, %d leaves continue a hash, %d of them first in an index node", len(names), continued, across)
	if across == 0 {
		t.Fatalf("no continued hash at an index node boundary: the test no longer tests it")
	}
	for _, nm := range names {
		if _, err := d.Lookup(nm); err != nil {
			t.Fatalf("lookup %s: %v", short(nm), err)
		}
	}
	want := map[string]bool{"f": true}
	for i, nm := range names {
		if i%2 == 0 {
			want[nm] = true
			continue
		}
		wantErrno(t, "unlink "+short(nm), d.Unlink(nowCtx, nm), 0)
	}
	for nm := range want {
		if _, err := d.Lookup(nm); err != nil {
			t.Fatalf("lookup after the unlinks %s: %v", short(nm), err)
		}
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	// debugfs marks each continued hash of the index "(**)": after the
	// unlinks (which never change the index) as many as counted above.
	if n := strings.Count(string(testutil.Run(t, "debugfs", "-R", "htree /d", img)), "(**)"); n != continued {
		t.Errorf("debugfs shows %d continued hashes, the driver's walk %d", n, continued)
	}
	checkHostNames(t, filepath.Join(loopMount(t, img), "d"), want)
}

// TestDxContinuedAcrossRoot builds a three-level index by hand (large_dir:
// root, two levels of nodes, one leaf under each path) where two names
// with the same hash sit in the last leaf under the root's first entry
// and in the first leaf under its second, whose hash has the "continued"
// bit: the leaf after the first is found by going up two levels, to the
// root's next entry. Both names must be found by lookup (dxLookup) and by
// the writers' search (dxFindEntry).
func TestDxContinuedAcrossRoot(t *testing.T) {
	const bs = 4096
	dev := make([]byte, 11*bs)
	fs := fakeFS(t, dev)
	fs.Super.SFeatureIncompat |= disk.IncompatLargedir
	ip, err := fs.decodeInode(12, inodeSeed(fs, 12, abi.S_IFDIR|0o755, disk.InodeExtentsFl|disk.InodeIndexFl, extentRoot(0, 7, 4), 7*bs))
	if err != nil {
		t.Fatal(err)
	}
	// Two names of one hash.
	var a, b string
	hash := uint32(0)
	seen := map[uint32]string{}
	for _, nm := range CollidingNames(fs.Super.SHashSeed, fs.hashSigned, 1<<17) {
		h, _ := ip.dxHash(disk.HashHalfMD4, []byte(nm))
		if other, ok := seen[h]; ok {
			a, b, hash = other, nm, h
			break
		}
		seen[h] = nm
	}
	if a == "" {
		t.Fatal("no two names of one hash")
	}
	blk := func(lblk int) []byte { return dev[(4+lblk)*bs : (5+lblk)*bs] }
	entry := func(hash uint32, lblk int) []byte {
		e := make([]byte, disk.DxEntrySize)
		le.PutUint32(e, hash)
		le.PutUint32(e[4:], uint32(lblk))
		return e
	}
	root := dxRootSeed(bs)
	root[disk.DxRootInfoOffset+6] = 2 // indirect_levels
	co := disk.DxRootCountOffset
	le.PutUint16(root[co+2:], 2)
	le.PutUint32(root[co+4:], 1)
	copy(root[co+8:], entry(hash|1, 4))
	copy(blk(0), root)
	ip.setDxCsum(blk(0), co)
	for _, n := range [][2]int{{1, 2}, {2, 3}, {4, 5}, {5, 6}} {
		fs.initDxNode(blk(n[0]), entry(0, n[1]))
		ip.setDxCsum(blk(n[0]), disk.DxNodeCountOffset)
	}
	copy(blk(3), dirBlockSeed(bs, a))
	ip.setDirBlockCsum(blk(3), 3)
	copy(blk(6), dirBlockSeed(bs, b))
	ip.setDirBlockCsum(blk(6), 6)

	for _, nm := range []string{a, b} {
		if ino, err := ip.dxLookup(nm); err != nil || ino != 11 {
			t.Errorf("dxLookup %s: %d, %v", nm[len(nm)-19:], ino, err)
		}
		if s, err := ip.dxFindEntry(nm); err != nil {
			t.Errorf("dxFindEntry %s: %v", nm[len(nm)-19:], err)
		} else if want := map[string]uint64{a: 3, b: 6}[nm]; s.lblk != want {
			t.Errorf("dxFindEntry %s: block %d, want %d", nm[len(nm)-19:], s.lblk, want)
		}
	}
	if _, err := ip.dxLookup("absent"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("dxLookup of an absent name: %v", err)
	}
}
