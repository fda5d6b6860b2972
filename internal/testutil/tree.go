package testutil

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Entry types, as find -printf %y would spell them out.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeChar    = "char"
	TypeBlock   = "block"
	TypeFifo    = "fifo"
	TypeSocket  = "socket"
)

// Entry is what a filesystem shows of one file: the model every test
// compares trees with, whatever the trees came from (a host directory, a
// loop mount, a tar archive, the library kernel).
type Entry struct {
	// Path is relative to the tree's root, "/"-separated, without "./";
	// the root itself is ".".
	Path string
	Type string
	// Mode holds the permission bits with setuid, setgid and sticky.
	Mode     uint32
	Uid, Gid uint32
	// Mtime is in nanoseconds since the epoch.
	Mtime int64
	// Size and SHA256 (hex) are those of a regular file's content.
	Size   int64
	SHA256 string
	// LinkTarget is a symlink's target.
	LinkTarget string
	// RdevMajor and RdevMinor are a device's number.
	RdevMajor, RdevMinor uint32
	Xattrs               map[string][]byte
	// Ino identifies the file within its tree: entries with the same Ino
	// (not directories) are hard links to one file. Its value means
	// nothing across trees.
	Ino uint64
	// Data lists a regular file's data regions (everything else is a
	// hole), when the source could tell (SEEK_DATA/SEEK_HOLE); nil when
	// it could not (a tar read with archive/tar).
	Data []Range
	// Sparse is set by ScanTar for an entry stored as a GNU sparse file.
	Sparse bool
}

// Range is the half-open byte range [Start, End) of a file.
type Range struct{ Start, End int64 }

// Tree is a filesystem's entries by Path.
type Tree map[string]*Entry

// Paths returns the tree's paths, sorted.
func (t Tree) Paths() []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Sub returns the entries under dir (a path of t), with paths relative
// to it: dir itself becomes ".". The entries are t's, renamed.
func (t Tree) Sub(dir string) Tree {
	sub := Tree{}
	for p, e := range t {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			e.Path = rel
			sub[rel] = e
		} else if p == dir {
			e.Path = "."
			sub["."] = e
		}
	}
	return sub
}

// ScanTar reads a tar archive with Go's archive/tar (which understands
// pax, GNU sparse 1.0 and SCHILY.xattr records) into a Tree. A hard link
// entry becomes a copy of its target's entry with the target's Ino.
// Duplicate paths and links to unknown entries are errors.
func ScanTar(r io.Reader) (Tree, error) {
	t := Tree{}
	tr := tar.NewReader(r)
	var nextIno uint64 = 1
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return t, err
		}
		p := cleanTarPath(hdr.Name)
		if _, dup := t[p]; dup {
			return t, fmt.Errorf("tar: %q: duplicate entry", hdr.Name)
		}
		if hdr.Typeflag == tar.TypeLink {
			target, ok := t[cleanTarPath(hdr.Linkname)]
			if !ok {
				return t, fmt.Errorf("tar: %q: hard link to unknown %q", hdr.Name, hdr.Linkname)
			}
			e := *target
			e.Path = p
			t[p] = &e
			continue
		}
		e := &Entry{
			Path:  p,
			Mode:  uint32(hdr.Mode) & 0o7777,
			Uid:   uint32(hdr.Uid),
			Gid:   uint32(hdr.Gid),
			Mtime: hdr.ModTime.UnixNano(),
			Ino:   nextIno,
		}
		nextIno++
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			e.Type = TypeFile
			e.Size = hdr.Size
			h := sha256.New()
			n, err := io.Copy(h, tr)
			if err != nil {
				return t, fmt.Errorf("tar: %q: %w", hdr.Name, err)
			}
			if n != hdr.Size {
				return t, fmt.Errorf("tar: %q: %d bytes of %d", hdr.Name, n, hdr.Size)
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
			_, e.Sparse = hdr.PAXRecords["GNU.sparse.major"]
		case tar.TypeDir:
			e.Type = TypeDir
		case tar.TypeSymlink:
			e.Type = TypeSymlink
			e.LinkTarget = hdr.Linkname
		case tar.TypeChar:
			e.Type = TypeChar
			e.RdevMajor, e.RdevMinor = uint32(hdr.Devmajor), uint32(hdr.Devminor)
		case tar.TypeBlock:
			e.Type = TypeBlock
			e.RdevMajor, e.RdevMinor = uint32(hdr.Devmajor), uint32(hdr.Devminor)
		case tar.TypeFifo:
			e.Type = TypeFifo
		default:
			return t, fmt.Errorf("tar: %q: unexpected type %q", hdr.Name, hdr.Typeflag)
		}
		for k, v := range hdr.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if e.Xattrs == nil {
					e.Xattrs = map[string][]byte{}
				}
				e.Xattrs[name] = []byte(v)
			}
		}
		t[p] = e
	}
}

// cleanTarPath turns "./a/b/" into "a/b" and "./" into ".".
func cleanTarPath(name string) string {
	p := strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
	if p == "" || p == "." {
		return "."
	}
	return p
}
