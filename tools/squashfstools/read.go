package squashfstools

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
)

// readTree reads the source's entries into a tree, the regular files'
// data through rd as it comes. stop says the writer has failed.
func readTree(src archive.Source, rd *dataReader, p *Params, stop func() bool) (*tree, error) {
	implied := uint32(0)
	if p.Time != nil {
		implied = clampTime(*p.Time)
	}
	t := &tree{root: newDir(implied), implied: implied}
	t.root.nlink = 0
	clamp := func(tm archive.Time) uint32 {
		s := tm.Sec
		if p.Time != nil && s > *p.Time {
			s = *p.Time
		}
		return clampTime(s)
	}
	report := func(name string, err error) {
		if p.Report != nil {
			p.Report(&EntryError{Name: name, Err: err})
		}
	}
	for !stop() {
		h, err := src.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		rel, err := cleanName(h.Name)
		if err != nil {
			report(h.Name, err)
			continue
		}
		if rel == "" {
			if h.Typeflag != archive.TypeDir {
				report(h.Name, errors.New("the root can only be a directory"))
				continue
			}
			t.root.attrs(h, clamp)
			t.root.xattrs = dropXattrs(t.root.xattrs, h.Name, p, report)
			continue
		}
		in := &inode{}
		switch h.Typeflag {
		case archive.TypeDir:
			// A directory named again keeps its contents.
			if _, d, err := t.lookup(rel, false); err == nil && d != nil && d.inode.typ == squashfs.TypeDir {
				d.inode.attrs(h, clamp)
				d.inode.xattrs = dropXattrs(d.inode.xattrs, h.Name, p, report)
				continue
			}
			in = newDir(0)
		case archive.TypeReg:
			in.typ = squashfs.TypeReg
		case archive.TypeSymlink:
			in.typ = squashfs.TypeSymlink
			if len(h.Linkname) > squashfs.MaxSymlink {
				report(h.Name, fmt.Errorf("symlink target of %d bytes, more than %d", len(h.Linkname), squashfs.MaxSymlink))
				continue
			}
			in.target = h.Linkname
		case archive.TypeChar, archive.TypeBlock:
			in.typ = squashfs.TypeChrdev
			if h.Typeflag == archive.TypeBlock {
				in.typ = squashfs.TypeBlkdev
			}
			in.rdev = squashfs.EncodeRdev(h.Devmajor, h.Devminor)
		case archive.TypeFifo:
			in.typ = squashfs.TypeFifo
		case archive.TypeLink:
			target, err := cleanName(h.Linkname)
			if err == nil && target == "" {
				err = errors.New("a hard link to the root")
			}
			var d *dentry
			if err == nil {
				_, d, err = t.lookup(target, false)
			}
			if err == nil && d == nil {
				err = fmt.Errorf("hard link to %s: no such entry before it", h.Linkname)
			}
			if err == nil && d.inode.typ == squashfs.TypeDir {
				err = fmt.Errorf("hard link to %s: a directory", h.Linkname)
			}
			if err == nil && d.inode.nlink == math32 {
				err = fmt.Errorf("hard link to %s: too many links", h.Linkname)
			}
			if err == nil {
				err = t.put(rel, d.inode)
			}
			if err != nil {
				report(h.Name, err)
			}
			continue
		default:
			report(h.Name, fmt.Errorf("entry type %q not supported", h.Typeflag))
			continue
		}
		in.attrs(h, clamp)
		in.xattrs = dropXattrs(in.xattrs, h.Name, p, report)
		if s := h.Mtime.Sec; s < 0 || s > math.MaxUint32 && (p.Time == nil || *p.Time > math.MaxUint32) {
			report(h.Name, fmt.Errorf("mtime %d out of SquashFS's range (1970 to 2106): stored as %d", s, in.mtime))
		}
		if in.typ == squashfs.TypeReg {
			f, err := rd.readFile(h, src)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", h.Name, err)
			}
			in.file = f
		}
		if err := t.put(rel, in); err != nil {
			report(h.Name, err)
		}
	}
	return t, nil
}

const math32 = 1<<32 - 1

// dropXattrs applies -no-xattrs and -all-root's sibling rules to an
// entry's xattrs: what SquashFS cannot store is said and left out.
func dropXattrs(xs []archive.Xattr, name string, p *Params, report func(string, error)) []archive.Xattr {
	if p.NoXattrs || len(xs) == 0 {
		return nil
	}
	keep, dropped := storable(xs)
	if len(dropped) > 0 {
		report(name, fmt.Errorf("xattrs %s left out: SquashFS stores only user., trusted. and security. ones", strings.Join(dropped, ", ")))
	}
	return keep
}
