package testutil

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CompareOptions relaxes Compare for differences a test expects.
type CompareOptions struct {
	// Ignore names fields left out: "mode", "uid", "gid", "mtime",
	// "size", "content", "xattrs", "links" (hard-link groups), "rdev".
	Ignore []string
	// IgnoreXattrs are xattr names left out of both trees.
	IgnoreXattrs []string
	// SkipPaths are paths left out of both trees, with everything under
	// them (such as "lost+found").
	SkipPaths []string
	// SkipTypes are entry types left out of both trees (such as
	// TypeSocket, which tar cannot carry).
	SkipTypes []string
	// MtimeUnit, when set, compares mtimes truncated to it (time.Second
	// for a filesystem without sub-second times).
	MtimeUnit time.Duration
	// HoleUnit, when set, compares data regions of regular files that
	// both trees know, rounded out to multiples of it (the larger block
	// size of the two filesystems): a hole smaller than a block cannot
	// be kept.
	HoleUnit int64
}

func (o *CompareOptions) ignores(field string) bool { return slices.Contains(o.Ignore, field) }

func (o *CompareOptions) skips(e *Entry) bool {
	if slices.Contains(o.SkipTypes, e.Type) {
		return true
	}
	for _, p := range o.SkipPaths {
		if e.Path == p || strings.HasPrefix(e.Path, p+"/") {
			return true
		}
	}
	return false
}

// Compare returns the differences between trees a and b, one line each,
// sorted by path: "PATH: only in a", "PATH: FIELD: A vs B", and for
// hard links "PATH: hard links: [A's group] vs [B's group]". No lines
// means the trees are the same.
func Compare(a, b Tree, opts CompareOptions) []string {
	var diffs []string
	add := func(p, format string, args ...any) {
		diffs = append(diffs, p+": "+fmt.Sprintf(format, args...))
	}
	groupsA, groupsB := linkGroups(a, &opts), linkGroups(b, &opts)
	paths := map[string]bool{}
	for p := range a {
		paths[p] = true
	}
	for p := range b {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	slices.Sort(sorted)
	for _, p := range sorted {
		ea, eb := a[p], b[p]
		if ea != nil && opts.skips(ea) {
			ea = nil
		}
		if eb != nil && opts.skips(eb) {
			eb = nil
		}
		switch {
		case ea == nil && eb == nil:
			continue
		case eb == nil:
			add(p, "only in a (%s)", ea.Type)
			continue
		case ea == nil:
			add(p, "only in b (%s)", eb.Type)
			continue
		}
		if ea.Type != eb.Type {
			add(p, "type: %s vs %s", ea.Type, eb.Type)
			continue
		}
		compareEntry(ea, eb, &opts, func(format string, args ...any) { add(p, format, args...) })
		if !opts.ignores("links") && ea.Type != TypeDir {
			// Each group is compared once, at its first path: comparing
			// it at every member is quadratic in the group's size.
			ga, gb := groupsA[p], groupsB[p]
			if (len(ga) > 0 && ga[0] == p || len(gb) > 0 && gb[0] == p) && !slices.Equal(ga, gb) {
				add(p, "hard links: %q vs %q", ga, gb)
			}
		}
	}
	return diffs
}

func compareEntry(a, b *Entry, o *CompareOptions, add func(string, ...any)) {
	if !o.ignores("mode") && a.Mode != b.Mode {
		add("mode: %04o vs %04o", a.Mode, b.Mode)
	}
	if !o.ignores("uid") && a.Uid != b.Uid {
		add("uid: %d vs %d", a.Uid, b.Uid)
	}
	if !o.ignores("gid") && a.Gid != b.Gid {
		add("gid: %d vs %d", a.Gid, b.Gid)
	}
	if !o.ignores("mtime") {
		ma, mb := a.Mtime, b.Mtime
		if u := o.MtimeUnit.Nanoseconds(); u > 1 {
			ma, mb = floorDiv(ma, u)*u, floorDiv(mb, u)*u
		}
		if ma != mb {
			add("mtime: %s vs %s", fmtTime(a.Mtime), fmtTime(b.Mtime))
		}
	}
	switch a.Type {
	case TypeFile:
		if !o.ignores("size") && a.Size != b.Size {
			add("size: %d vs %d", a.Size, b.Size)
		}
		if !o.ignores("content") && a.SHA256 != b.SHA256 {
			add("content: sha256 %.12s vs %.12s", a.SHA256, b.SHA256)
		}
		if o.HoleUnit > 0 && a.Data != nil && b.Data != nil {
			da, db := roundData(a.Data, o.HoleUnit, a.Size), roundData(b.Data, o.HoleUnit, b.Size)
			if !slices.Equal(da, db) {
				add("data regions: %v vs %v", da, db)
			}
		}
	case TypeSymlink:
		if a.LinkTarget != b.LinkTarget {
			add("link target: %q vs %q", a.LinkTarget, b.LinkTarget)
		}
	case TypeChar, TypeBlock:
		if !o.ignores("rdev") && (a.RdevMajor != b.RdevMajor || a.RdevMinor != b.RdevMinor) {
			add("rdev: %d,%d vs %d,%d", a.RdevMajor, a.RdevMinor, b.RdevMajor, b.RdevMinor)
		}
	}
	if !o.ignores("xattrs") {
		names := map[string]bool{}
		for n := range a.Xattrs {
			names[n] = true
		}
		for n := range b.Xattrs {
			names[n] = true
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			if !slices.Contains(o.IgnoreXattrs, n) {
				sorted = append(sorted, n)
			}
		}
		slices.Sort(sorted)
		for _, n := range sorted {
			va, oka := a.Xattrs[n]
			vb, okb := b.Xattrs[n]
			switch {
			case !oka:
				add("xattr %s: missing vs %s", n, fmtValue(vb))
			case !okb:
				add("xattr %s: %s vs missing", n, fmtValue(va))
			case !bytes.Equal(va, vb):
				add("xattr %s: %s vs %s", n, fmtValue(va), fmtValue(vb))
			}
		}
	}
}

// linkGroups maps each non-directory path that shares its Ino with
// another to the sorted paths of its group.
func linkGroups(t Tree, o *CompareOptions) map[string][]string {
	byIno := map[uint64][]string{}
	for p, e := range t {
		if e.Type != TypeDir && !o.skips(e) {
			byIno[e.Ino] = append(byIno[e.Ino], p)
		}
	}
	groups := map[string][]string{}
	for _, ps := range byIno {
		if len(ps) < 2 {
			continue
		}
		slices.Sort(ps)
		for _, p := range ps {
			groups[p] = ps
		}
	}
	return groups
}

// roundData rounds data regions out to multiples of unit, within size,
// and merges those that then touch.
func roundData(rs []Range, unit, size int64) []Range {
	var out []Range
	for _, r := range rs {
		s, e := r.Start/unit*unit, min((r.End+unit-1)/unit*unit, size)
		if n := len(out); n > 0 && out[n-1].End >= s {
			out[n-1].End = max(out[n-1].End, e)
			continue
		}
		out = append(out, Range{s, e})
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func fmtTime(ns int64) string {
	return strconv.FormatInt(ns, 10) + " (" + time.Unix(0, ns).UTC().Format(time.RFC3339Nano) + ")"
}

// fmtValue shows an xattr value as a quoted string when it is text, in
// hex otherwise.
func fmtValue(v []byte) string {
	if utf8.Valid(v) && !bytes.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != 0 }) {
		return strconv.Quote(string(v))
	}
	return fmt.Sprintf("0x%x", v)
}
