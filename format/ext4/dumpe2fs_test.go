package ext4

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// dumpe2fs is what dumpe2fs prints of an image: the superblock's
// "Name: value" lines, and each group.
type dumpe2fs struct {
	header map[string]string
	groups []dumpGroup
}

// dumpGroup is one "Group N:" paragraph. Absent blocks are 0.
type dumpGroup struct {
	first, last        uint64
	csum               int64 // -1 when not printed
	flags              string
	super              uint64 // the superblock (backup) block
	gdFirst, gdLast    uint64 // descriptor table, or meta_bg descriptor block
	resFirst, resLast  uint64 // reserved GDT blocks
	blockBitmap        uint64
	inodeBitmap        uint64
	bbCsum, ibCsum     int64 // -1 when not printed
	itFirst, itLast    uint64
	free, freeInodes   uint64 // free blocks or clusters
	dirs, unused       uint64
	freeBlocks         [][2]uint64
	hasSuper, hasDescs bool
}

var (
	dumpGroupRe = regexp.MustCompile(`^Group (\d+): \(Blocks (\d+)-(\d+)\)(?: csum 0x([0-9a-f]+))?(?: \[(.*)\])?`)
	dumpSuperRe = regexp.MustCompile(`(?:Primary|Backup) superblock at (\d+)`)
	dumpGdRe    = regexp.MustCompile(`Group descriptors? at (\d+)(?:-(\d+))?`)
	dumpResRe   = regexp.MustCompile(`Reserved GDT blocks at (\d+)-(\d+)`)
	dumpBmRe    = regexp.MustCompile(`^(Block|Inode) bitmap at (\d+)[^,]*(?:, csum 0x([0-9a-f]+))?`)
	dumpItRe    = regexp.MustCompile(`^Inode table at (\d+)-(\d+)`)
	dumpCountRe = regexp.MustCompile(`^(\d+) free (?:blocks|clusters), (\d+) free inodes, (\d+) directories(?:, (\d+) unused inodes)?`)
)

// runDumpe2fs runs dumpe2fs (in UTC, for the times) and parses it.
func runDumpe2fs(t testing.TB, img string) *dumpe2fs {
	t.Helper()
	bin := testutil.Need(t, "dumpe2fs")[0]
	cmd := exec.Command(bin, img)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v", img, err)
	}
	d := &dumpe2fs{header: map[string]string{}}
	num := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("dumpe2fs: %q: %v", s, err)
		}
		return n
	}
	hex := func(s string) int64 {
		if s == "" {
			return -1
		}
		n, _ := strconv.ParseInt(s, 16, 64)
		return n
	}
	var g *dumpGroup
	for _, line := range strings.Split(string(out), "\n") {
		if m := dumpGroupRe.FindStringSubmatch(line); m != nil {
			if num(m[1]) != uint64(len(d.groups)) {
				t.Fatalf("dumpe2fs: %q out of order", line)
			}
			d.groups = append(d.groups, dumpGroup{first: num(m[2]), last: num(m[3]), csum: hex(m[4]), flags: m[5]})
			g = &d.groups[len(d.groups)-1]
			continue
		}
		if g == nil {
			if k, v, ok := strings.Cut(line, ":"); ok {
				d.header[k] = strings.TrimSpace(v)
			}
			continue
		}
		line = strings.TrimSpace(line)
		if m := dumpSuperRe.FindStringSubmatch(line); m != nil {
			g.hasSuper, g.super = true, num(m[1])
		}
		if m := dumpGdRe.FindStringSubmatch(line); m != nil {
			g.hasDescs, g.gdFirst, g.gdLast = true, num(m[1]), num(m[1])
			if m[2] != "" {
				g.gdLast = num(m[2])
			}
		}
		if m := dumpResRe.FindStringSubmatch(line); m != nil {
			g.resFirst, g.resLast = num(m[1]), num(m[2])
		}
		if m := dumpBmRe.FindStringSubmatch(line); m != nil {
			if m[1] == "Block" {
				g.blockBitmap, g.bbCsum = num(m[2]), hex(m[3])
			} else {
				g.inodeBitmap, g.ibCsum = num(m[2]), hex(m[3])
			}
		}
		if m := dumpItRe.FindStringSubmatch(line); m != nil {
			g.itFirst, g.itLast = num(m[1]), num(m[2])
		}
		if m := dumpCountRe.FindStringSubmatch(line); m != nil {
			g.free, g.freeInodes, g.dirs = num(m[1]), num(m[2]), num(m[3])
			if m[4] != "" {
				g.unused = num(m[4])
			}
		}
		if rest, ok := strings.CutPrefix(line, "Free blocks:"); ok {
			for _, r := range strings.Split(rest, ",") {
				if r = strings.TrimSpace(r); r == "" {
					continue
				}
				a, b, ok := strings.Cut(r, "-")
				if !ok {
					b = a
				}
				g.freeBlocks = append(g.freeBlocks, [2]uint64{num(a), num(b)})
			}
		}
	}
	if len(d.groups) == 0 {
		t.Fatalf("dumpe2fs printed no group:\n%s", out)
	}
	return d
}

// num returns header field k as a number (its first word), or fails.
func (d *dumpe2fs) num(t testing.TB, k string) uint64 {
	t.Helper()
	v, ok := d.header[k]
	if !ok {
		t.Fatalf("dumpe2fs has no %q", k)
	}
	w, _, _ := strings.Cut(v, " ")
	n, err := strconv.ParseUint(strings.TrimPrefix(w, "0x"), map[bool]int{true: 16, false: 10}[strings.HasPrefix(w, "0x")], 64)
	if err != nil {
		t.Fatalf("dumpe2fs %s: %q: %v", k, v, err)
	}
	return n
}
