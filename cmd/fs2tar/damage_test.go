//go:build linux

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
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

// The damage sweep: images made with mkfs.ext4 -d from testutil.MakeTree,
// then damaged deterministically (a seeded RNG) in the structures a
// reader trusts, each run through the fs2tar binary. fs2tar must end by
// itself (no panic, no hang) with status 0, 1 or 2, name a path and a
// reason for each entry it skips, and stay under damageMaxRSS. As root
// with loop devices the host kernel mounts each damaged image too
// (ro,noload,errors=continue), and where it reads an entry fs2tar must
// archive the same.
//
// LKLIMG_DAMAGE_IMAGES sets how many damaged images are made (default
// damageDefault, a sweep that fits in make test); the figures are logged.
const (
	damageDefault  = 48
	damageTimeout  = 60 * time.Second  // one fs2tar run; the base images take well under a second
	damageMaxRSS   = 256 << 20         // bytes
	damageASLimit  = 1 << 30           // RLIMIT_AS through prlimit: a runaway allocation fails fast
	damageHostWalk = 120 * time.Second // the host kernel's walk of one image
	// damageHashLimit: larger files (a damaged i_size) are compared by
	// size only; hashing a terabyte of holes would take hours.
	damageHashLimit = 64 << 20
)

// damageBase is one undamaged image and where its structures lie.
type damageBase struct {
	name   string
	img    []byte
	bs     int64
	csum   bool    // metadata_csum: most damage is caught by checksums
	sb     []int64 // byte ranges [start, end) pairs, flattened
	gdt    []int64
	itable []int64
	// blocks of each kind, by filesystem block number
	dirBlocks []int64
	mapBlocks []int64 // extent tree blocks (ETB) and indirect blocks
	etbFiles  []int64 // ETBs of files whose root points at them
	files     []string
	dirs      []string
	inodeSize int64
	itStart   int64 // first inode table block of group 0
}

func (b *damageBase) String() string { return b.name }

// debugfsSections runs a debugfs script read-only and returns each
// command's output by command.
func debugfsSections(t *testing.T, debugfs, img string, cmds []string) map[string]string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(debugfs, "-f", script, img).Output()
	if err != nil {
		t.Fatalf("debugfs: %v", err)
	}
	res := map[string]string{}
	cur := ""
	for _, line := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(line, "debugfs: "); ok {
			cur = c
			continue
		}
		res[cur] += line + "\n"
	}
	return res
}

var (
	reGDT    = regexp.MustCompile(`Group descriptors at (\d+)-(\d+)`)
	reITable = regexp.MustCompile(`Inode table at (\d+)-(\d+)`)
	reMapBlk = regexp.MustCompile(`\((?:ETB\d+|IND|DIND|TIND)\):(\d+)`)
	reETB0   = regexp.MustCompile(`\(ETB0\):(\d+)`)
)

func atoi(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// makeDamageBase builds one base image from src and locates its
// structures with dumpe2fs and debugfs.
func makeDamageBase(t *testing.T, name, src, dir string, opts ...string) *damageBase {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "dumpe2fs")
	img := filepath.Join(dir, name+".img")
	testutil.MkfsExt4(t, img, src, "24M", opts...)
	b := &damageBase{name: name}
	var err error
	if b.img, err = os.ReadFile(img); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tools[2], img).Output()
	if err != nil {
		t.Fatal(err)
	}
	dump := string(out)
	field := func(k string) int64 {
		m := regexp.MustCompile(`(?m)^` + k + `:\s+(\d+)`).FindStringSubmatch(dump)
		if m == nil {
			t.Fatalf("dumpe2fs: no %s", k)
		}
		return atoi(t, m[1])
	}
	b.bs = field("Block size")
	b.inodeSize = field("Inode size")
	b.csum = strings.Contains(dump, "metadata_csum")
	b.sb = []int64{1024, 2048}
	m := reGDT.FindStringSubmatch(dump)
	b.gdt = []int64{atoi(t, m[1]) * b.bs, (atoi(t, m[2]) + 1) * b.bs}
	m = reITable.FindStringSubmatch(dump)
	b.itStart = atoi(t, m[1])
	used := field("Inode count") - field("Free inodes")
	b.itable = []int64{b.itStart * b.bs, b.itStart*b.bs + (used+16)*b.inodeSize}

	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		if d.IsDir() {
			b.dirs = append(b.dirs, rel)
		} else if d.Type().IsRegular() {
			b.files = append(b.files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, d := range b.dirs {
		cmds = append(cmds, "blocks \""+d+"\"")
	}
	for _, f := range b.files {
		cmds = append(cmds, "stat \""+f+"\"")
	}
	secs := debugfsSections(t, tools[1], img, cmds)
	for _, d := range b.dirs {
		for _, f := range strings.Fields(secs["blocks \""+d+"\""]) {
			if n, err := strconv.ParseInt(f, 10, 64); err == nil {
				b.dirBlocks = append(b.dirBlocks, n)
			}
		}
	}
	for _, f := range b.files {
		s := secs["stat \""+f+"\""]
		for _, m := range reMapBlk.FindAllStringSubmatch(s, -1) {
			b.mapBlocks = append(b.mapBlocks, atoi(t, m[1]))
		}
		if m := reETB0.FindStringSubmatch(s); m != nil {
			b.etbFiles = append(b.etbFiles, atoi(t, m[1]))
		}
	}
	if len(b.dirBlocks) == 0 || len(b.files) == 0 {
		t.Fatalf("%s: no directory blocks or files found", name)
	}
	t.Logf("%s: block size %d, csum %v, %d dirs (%d blocks), %d files, %d map blocks, %d ETBs",
		name, b.bs, b.csum, len(b.dirs), len(b.dirBlocks), len(b.files), len(b.mapBlocks), len(b.etbFiles))
	return b
}

// patch is one change to an image: bytes at an offset.
type patch struct {
	off  int64
	data []byte
}

// damage is one damaged image: raw patches on the base image, or debugfs
// commands run on a copy (which recompute checksums, so the damage gets
// past them).
type damage struct {
	base    *damageBase
	kind    string
	patches []patch
	debugfs []string
}

func (d *damage) String() string { return d.base.name + "/" + d.kind }

// flips returns patches flipping n random bits in [start, end).
func flips(rnd *rand.Rand, img []byte, start, end int64, n int) []patch {
	end = min(end, int64(len(img)))
	if end <= start {
		return nil
	}
	var ps []patch
	for range n {
		off := start + rnd.Int64N(end-start)
		ps = append(ps, patch{off, []byte{img[off] ^ byte(1<<rnd.IntN(8))}})
	}
	return ps
}

func pick[T any](rnd *rand.Rand, s []T) T { return s[rnd.IntN(len(s))] }

// makeDamage makes damaged image number i of base b.
func makeDamage(rnd *rand.Rand, b *damageBase, i int) *damage {
	d := &damage{base: b}
	le := binary.LittleEndian
	blk := func(n int64) (int64, int64) { return n * b.bs, (n + 1) * b.bs }
	nbits := 1 + rnd.IntN(8)
	switch i % 12 {
	case 0:
		d.kind = "superblock-flips"
		d.patches = flips(rnd, b.img, b.sb[0], b.sb[0]+0x180, nbits)
	case 1:
		d.kind = "gdt-flips"
		d.patches = flips(rnd, b.img, b.gdt[0], b.gdt[1], nbits)
	case 2, 3:
		d.kind = "inode-table-flips"
		d.patches = flips(rnd, b.img, b.itable[0], b.itable[1], nbits*4)
	case 4:
		d.kind = "map-block-flips"
		if len(b.mapBlocks) == 0 {
			d.kind = "inode-table-flips"
			d.patches = flips(rnd, b.img, b.itable[0], b.itable[1], nbits*4)
			break
		}
		s, e := blk(pick(rnd, b.mapBlocks))
		d.patches = flips(rnd, b.img, s, e, nbits*2)
	case 5, 6:
		d.kind = "dir-block-flips"
		s, e := blk(pick(rnd, b.dirBlocks))
		d.patches = flips(rnd, b.img, s, e, nbits*2)
	case 7:
		// A bad rec_len in a directory entry, found by walking the
		// block's entries from its start.
		d.kind = "bad-rec_len"
		s, _ := blk(pick(rnd, b.dirBlocks))
		off := s
		for k := rnd.IntN(6); k > 0; k-- {
			rl := int64(le.Uint16(b.img[off+4:]))
			if rl < 12 || off+rl >= s+b.bs {
				break
			}
			off += rl
		}
		v := pick(rnd, []uint16{0, 1, 4, 7, 8, 12, uint16(b.bs - 4), uint16(b.bs), uint16(b.bs + 12), 0xffff, uint16(rnd.Uint32())})
		d.patches = []patch{{off + 4, le.AppendUint16(nil, v)}}
	case 8:
		d.kind = "huge-i_size"
		size := pick(rnd, []uint64{1 << 40, 1<<63 - 1, 1 << 63, ^uint64(0), 1 << 50})
		d.debugfs = []string{fmt.Sprintf("sif \"%s\" size %d", pick(rnd, b.files), size)}
	case 9:
		// An extent index pointing at its own block.
		d.kind = "extent-loop"
		if len(b.etbFiles) == 0 {
			d.kind = "dir-block-flips"
			s, e := blk(pick(rnd, b.dirBlocks))
			d.patches = flips(rnd, b.img, s, e, nbits*2)
			break
		}
		etb := pick(rnd, b.etbFiles)
		s, _ := blk(etb)
		node := make([]byte, 24)
		le.PutUint16(node[0:], 0xF30A)                // eh_magic
		le.PutUint16(node[2:], 1)                     // eh_entries
		le.PutUint16(node[4:], uint16((b.bs-12)/12))  // eh_max
		le.PutUint16(node[6:], uint16(1+rnd.IntN(3))) // eh_depth
		le.PutUint32(node[12:], 0)                    // ei_block
		le.PutUint32(node[16:], uint32(etb))          // ei_leaf_lo: itself
		d.patches = []patch{{s, node}}
	case 10:
		// A directory linked into its own subtree (debugfs link
		// makes the entry, with its checksum).
		d.kind = "dir-cycle"
		var deep []string
		for _, dir := range b.dirs {
			if strings.Count(dir, "/") >= 2 {
				deep = append(deep, dir)
			}
		}
		child := pick(rnd, deep)
		anc := path.Dir(child)
		if rnd.IntN(2) == 0 {
			anc = "/" + strings.Split(child, "/")[1]
		}
		d.debugfs = []string{fmt.Sprintf("link \"%s\" \"%s/cycle\"", anc, child)}
	case 11:
		// Symlink chains and cycles (not damage, but what a walk that
		// followed symlinks would loop on), and random flips in the
		// first blocks of metadata.
		d.kind = "symlinks-and-flips"
		cmds := []string{"mkdir /chain"}
		for k := range 50 {
			cmds = append(cmds, fmt.Sprintf("symlink /chain/s%d /chain/s%d", k, k+1))
		}
		cmds = append(cmds, "symlink /chain/c1 /chain/c2", "symlink /chain/c2 /chain/c1", "symlink /chain/self /chain/self")
		d.debugfs = cmds
		d.patches = flips(rnd, b.img, 0, b.itable[1], nbits)
	}
	return d
}

// write writes the damaged image to path.
func (d *damage) write(t *testing.T, debugfs, p string) {
	img := bytes.Clone(d.base.img)
	for _, pt := range d.patches {
		copy(img[pt.off:], pt.data)
	}
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(d.debugfs) > 0 {
		script := p + ".debugfs"
		if err := os.WriteFile(script, []byte(strings.Join(d.debugfs, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		exec.Command(debugfs, "-w", "-f", script, p).Run() // may fail on a damaged image: the damage then is the patches
	}
}

// runResult is one fs2tar run of the sweep.
type runResult struct {
	code     int
	stderr   string
	tar      []byte
	maxRSS   int64
	timedOut bool
}

// verdict says what is wrong with a run of the sweep, or "" if nothing
// is: it ended by itself, with status 0, 1 or 2, under damageMaxRSS,
// and named a path when it skipped entries (status 1).
func (r runResult) verdict() string {
	switch {
	case r.timedOut:
		return "did not end in " + damageTimeout.String()
	case strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "fatal error"):
		return "crashed"
	case r.code != 0 && r.code != 1 && r.code != 2:
		return fmt.Sprintf("exit status %d", r.code)
	case r.maxRSS > damageMaxRSS:
		return fmt.Sprintf("peak RSS %d MiB", r.maxRSS>>20)
	case r.code == 1 && len(errorPaths(r.stderr)) == 0 && !strings.Contains(r.stderr, "write"):
		return "exit 1 without naming a path"
	}
	return ""
}

// runCapped runs fs2tar with a timeout, under RLIMIT_AS (prlimit), and
// measures its peak RSS with GNU time. The rusage Go's os/exec returns
// cannot be used: a child started by vfork and exec keeps the parent's
// RSS high-water mark (exec_mmap records the shared mm's), so it would
// report the test's own RSS. time forks first, from a small process.
func runCapped(timeBin, prlimit string, args ...string) (runResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), damageTimeout)
	defer cancel()
	rss, err := os.CreateTemp("", "fs2tar-rss")
	if err != nil {
		return runResult{}, err
	}
	rss.Close()
	defer os.Remove(rss.Name())
	argv := append([]string{"-f", "%M", "-o", rss.Name(), prlimit, "--as=" + strconv.Itoa(damageASLimit), "--", bin}, args...)
	cmd := exec.CommandContext(ctx, timeBin, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := runResult{stderr: stderr.String(), tar: stdout.Bytes(), timedOut: ctx.Err() != nil}
	if cmd.ProcessState == nil {
		return r, err
	}
	r.code = cmd.ProcessState.ExitCode()
	b, _ := os.ReadFile(rss.Name())
	// GNU time writes "Command exited with non-zero status N" first
	// when the status is not 0; the last line is %M, in KiB.
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		if r.timedOut {
			return r, nil
		}
		return r, fmt.Errorf("no peak RSS from time: %q", b)
	}
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return r, fmt.Errorf("peak RSS from time: %q", b)
	}
	r.maxRSS = kb << 10
	return r, nil
}

// hostEntry is what the host kernel showed of one entry; err is set when
// it could not read the entry entirely.
type hostEntry struct {
	typ    uint32
	mode   uint32
	uid    uint32
	gid    uint32
	size   int64
	sum    string
	target string
	rdev   uint64
	// xattrs lists the extended attributes, "name=sha256 prefix" sorted
	// by name and joined by spaces (xattrSummary).
	xattrs string
	err    error
}

// xattrSummary is hostEntry.xattrs of a name-to-value map.
func xattrSummary(x map[string][]byte) string {
	var s []string
	for _, k := range slices.Sorted(mapsKeys(x)) {
		sum := sha256.Sum256(x[k])
		s = append(s, k+"="+hex.EncodeToString(sum[:6]))
	}
	return strings.Join(s, " ")
}

// scanHostTolerant walks a mount of a damaged image, going on past every
// error: each entry is recorded with what could be read of it.
func scanHostTolerant(root string, deadline time.Time) map[string]*hostEntry {
	res := map[string]*hostEntry{}
	var walk func(rel string)
	walk = func(rel string) {
		if time.Now().After(deadline) {
			return
		}
		full := filepath.Join(root, rel)
		var st unix.Stat_t
		e := &hostEntry{}
		res[rel] = e
		if e.err = unix.Lstat(full, &st); e.err != nil {
			return
		}
		e.typ, e.mode, e.uid, e.gid, e.rdev = st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, st.Rdev
		x, err := testutil.HostXattrs(full)
		if err != nil {
			e.err = err
			return
		}
		e.xattrs = xattrSummary(x)
		switch e.typ {
		case unix.S_IFREG:
			e.size = st.Size
			if st.Size > damageHashLimit {
				return // a huge i_size: compared by size only
			}
			f, err := os.Open(full)
			if err != nil {
				e.err = err
				return
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil || n != st.Size {
				e.err = fmt.Errorf("read %d of %d: %v", n, st.Size, err)
				return
			}
			e.sum = hex.EncodeToString(h.Sum(nil))
		case unix.S_IFLNK:
			e.target, e.err = os.Readlink(full)
		case unix.S_IFDIR:
			f, err := os.Open(full)
			if err != nil {
				e.err = err
				return
			}
			names, err := f.Readdirnames(-1)
			f.Close()
			if err != nil {
				e.err = err // the names read so far are still walked
			}
			slices.Sort(names)
			for _, n := range names {
				walk(path.Join(rel, n))
			}
		}
	}
	walk(".")
	return res
}

// scanTarLimited reads fs2tar's archive into the model scanHostTolerant
// fills, hashing files up to damageHashLimit; hard links become copies of
// their target.
func scanTarLimited(b []byte) (map[string]*hostEntry, error) {
	res := map[string]*hostEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		p := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if p == "" {
			p = "."
		}
		if h.Typeflag == tar.TypeLink {
			tgt := strings.TrimSuffix(strings.TrimPrefix(h.Linkname, "./"), "/")
			if e := res[tgt]; e != nil {
				res[p] = e
				continue
			}
			return res, fmt.Errorf("%s: link to unknown %s", h.Name, h.Linkname)
		}
		e := &hostEntry{mode: uint32(h.Mode) & 0o7777, uid: uint32(h.Uid), gid: uint32(h.Gid)}
		x := map[string][]byte{}
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				x[name] = []byte(v)
			}
		}
		e.xattrs = xattrSummary(x)
		switch h.Typeflag {
		case tar.TypeReg:
			e.typ, e.size = unix.S_IFREG, h.Size
			if h.Size <= damageHashLimit {
				sum := sha256.New()
				if _, err := io.Copy(sum, tr); err != nil {
					return res, err
				}
				e.sum = hex.EncodeToString(sum.Sum(nil))
			}
		case tar.TypeDir:
			e.typ = unix.S_IFDIR
		case tar.TypeSymlink:
			e.typ, e.target = unix.S_IFLNK, h.Linkname
		case tar.TypeChar, tar.TypeBlock:
			e.typ = unix.S_IFCHR
			if h.Typeflag == tar.TypeBlock {
				e.typ = unix.S_IFBLK
			}
			e.rdev = unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		case tar.TypeFifo:
			e.typ = unix.S_IFIFO
		default:
			return res, fmt.Errorf("%s: type %q", h.Name, h.Typeflag)
		}
		res[p] = e
	}
}

// compareHost returns the entries the host kernel read entirely that the
// archive lacks or shows differently.
func compareHost(host, tree map[string]*hostEntry) []string {
	var diffs []string
	for _, p := range slices.Sorted(mapsKeys(host)) {
		h := host[p]
		if h.err != nil || h.typ == unix.S_IFSOCK {
			continue
		}
		e := tree[p]
		if e == nil {
			diffs = append(diffs, p+": read by the kernel, missing from the archive")
			continue
		}
		var d []string
		if e.typ != h.typ {
			d = append(d, fmt.Sprintf("type %o, kernel %o", e.typ, h.typ))
		} else if e.mode != h.mode || e.uid != h.uid || e.gid != h.gid {
			d = append(d, fmt.Sprintf("mode/owner %o %d:%d, kernel %o %d:%d", e.mode, e.uid, e.gid, h.mode, h.uid, h.gid))
		} else if e.size != h.size || e.sum != h.sum {
			d = append(d, fmt.Sprintf("content %d bytes %.12s, kernel %d bytes %.12s", e.size, e.sum, h.size, h.sum))
		} else if e.target != h.target || e.rdev != h.rdev {
			d = append(d, fmt.Sprintf("target %q dev %#x, kernel %q dev %#x", e.target, e.rdev, h.target, h.rdev))
		} else if e.xattrs != h.xattrs {
			d = append(d, fmt.Sprintf("xattrs [%s], kernel [%s]", e.xattrs, h.xattrs))
		}
		if len(d) > 0 {
			diffs = append(diffs, p+": "+strings.Join(d, "; "))
		}
	}
	return diffs
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// hostMount mounts img read-only without the journal and with
// errors=continue (a flipped s_errors must not make the host panic), and
// returns the kernel's view; ok is false if the kernel refused the mount.
func hostMount(t *testing.T, img, mnt string) (map[string]*hostEntry, bool) {
	out, err := exec.Command("mount", "-t", "ext4", "-o", "loop,ro,noload,errors=continue", img, mnt).CombinedOutput()
	if err != nil {
		_ = out
		return nil, false
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	}()
	return scanHostTolerant(mnt, time.Now().Add(damageHostWalk)), true
}

// errorPaths returns the paths fs2tar reported on stderr.
func errorPaths(stderr string) []string {
	var ps []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "fs2tar: /"); ok {
			if i := strings.Index(rest, ": "); i >= 0 {
				ps = append(ps, "/"+rest[:i])
			}
		}
	}
	return ps
}

// TestDamagedImages is the sweep (see the comment at the top of the file).
// keepImage copies a damaged image aside for the post-mortem and returns
// where.
func keepImage(img, what string, i int) string {
	keep := filepath.Join(os.TempDir(), fmt.Sprintf("lklimg-%s-%d.img", what, i))
	exec.Command("cp", img, keep).Run()
	return keep
}

func TestDamagedImages(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "dumpe2fs", "/usr/bin/time", "prlimit")
	n := damageDefault
	if s := os.Getenv("LKLIMG_DAMAGE_IMAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LKLIMG_DAMAGE_IMAGES=%q: want a count", s)
		}
	}
	src := t.TempDir()
	testutil.MakeTree(t, src)
	dir := t.TempDir()
	bases := []*damageBase{
		makeDamageBase(t, "ext4", src, dir, "-b", "4096"),
		makeDamageBase(t, "ext4-no-csum", src, dir, "-b", "4096", "-O", "^metadata_csum"),
		makeDamageBase(t, "ext4-1k-no-csum", src, dir, "-b", "1024", "-O", "^metadata_csum"),
		makeDamageBase(t, "ext2", src, dir, "-t", "ext2", "-b", "4096"),
	}
	// The kernel comparison needs root and loop devices; without them
	// the sweep still runs (under CI=true, NeedLoop fails the test).
	_, lerr := os.Stat("/dev/loop-control")
	loop := os.Geteuid() == 0 && lerr == nil
	if !loop {
		if testutil.InCI() {
			testutil.NeedLoop(t)
		}
		t.Log("not comparing with the host kernel: needs root and loop devices")
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}

	rnd := rand.New(rand.NewPCG(3, uint64(n)))
	var made, selfExit, refusedBoth, kernelMounted, matched int
	var maxRSS int64
	codes := map[int]int{}
	var mismatches []string
	img := filepath.Join(dir, "damaged.img")
	for i := range n {
		d := makeDamage(rnd, bases[i%len(bases)], i/len(bases))
		d.write(t, tools[1], img)
		made++
		r, err := runCapped(tools[3], tools[4], "--no-journal", img)
		if err != nil {
			t.Fatalf("%d %v: %v", i, d, err)
		}
		maxRSS = max(maxRSS, r.maxRSS)
		codes[r.code]++
		if bad := r.verdict(); bad != "" {
			t.Errorf("damaged image %d (%v): %s\n%.3000s", i, d, bad, r.stderr)
			t.Logf("kept as %s", keepImage(img, "damaged", i))
			continue
		}
		selfExit++
		if !loop {
			continue
		}
		host, ok := hostMount(t, img, mnt)
		if !ok {
			// The kernel refused the image: fs2tar must have refused it
			// or reported errors.
			if r.code == 0 {
				mismatches = append(mismatches, fmt.Sprintf("%d %v: the kernel refuses the mount, fs2tar exits 0 (image kept as %s)",
					i, d, keepImage(img, "mismatch", i)))
			} else {
				refusedBoth++
				matched++
			}
			continue
		}
		kernelMounted++
		if r.code == 2 {
			mismatches = append(mismatches, fmt.Sprintf("%d %v: the kernel mounts it, fs2tar refuses: %.300s", i, d, r.stderr))
			continue
		}
		tree, err := scanTarLimited(r.tar)
		if err != nil {
			t.Errorf("%d %v: the archive is not readable: %v", i, d, err)
			continue
		}
		if diffs := compareHost(host, tree); len(diffs) > 0 {
			if len(diffs) > 5 {
				diffs = append(diffs[:5], fmt.Sprintf("... %d more", len(diffs)-5))
			}
			mismatches = append(mismatches, fmt.Sprintf("%d %v:\n\t%s\n\tfs2tar: %.500s", i, d, strings.Join(diffs, "\n\t"), r.stderr))
			continue
		}
		matched++
	}
	t.Logf("damaged images: %d made; %d ended by themselves (exit 0/1/2, no panic, no timeout) under %d MiB, peak RSS %d MiB; exits %v",
		made, selfExit, damageMaxRSS>>20, maxRSS>>20, codes)
	if loop {
		t.Logf("host kernel: mounted %d, refused %d (fs2tar refused or reported errors on %d of those); matched on %d of %d",
			kernelMounted, selfExit-kernelMounted, refusedBoth, matched, selfExit)
		for _, m := range mismatches {
			t.Logf("mismatch: %s", m)
		}
		if len(mismatches) > 0 {
			t.Errorf("%d damaged images where fs2tar and the host kernel disagree (see the log)", len(mismatches))
		}
	}
}
