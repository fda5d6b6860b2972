//go:build linux || darwin || freebsd || windows

package hostcopy

import (
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/kernel/abi"
)

// walkSource is a host directory as an archive.Source walked through the
// host layer (lstat, readlink, openSource and its regions, xattrs), the
// hosts' DirSource where hostsys (Linux's syscalls behind the kernel's
// signatures, which archive.Export walks) does not exist. It gives what
// Export gives of a tree: the directory itself as "./", then each entry
// depth first in bytewise order of names, hard links after their first
// name as TypeLink, holes as Sparse extents, xattrs sorted; a socket, and
// an entry that cannot be read, reported (an *archive.PathError) and
// left out.
type walkSource struct {
	root    string
	report  func(error)
	c       *copier // xattr buffers
	started bool
	dirs    []walkDir         // the directories being walked, innermost last
	links   map[hostID]string // first name of each multiply linked file
	// The current regular file's data: its extents left, read one after
	// another.
	file    srcFile
	open    bool
	extents []archive.Extent
}

// walkDir is a directory being walked: its host path, its name in the
// stream, and its names not yet given.
type walkDir struct {
	path, name string
	names      []string
}

func newWalkSource(dir string, report func(error)) *walkSource {
	return &walkSource{root: dir, report: report, c: newCopier(Options{}), links: map[hostID]string{}}
}

func (s *walkSource) fail(path, op string, err error) {
	if s.report != nil {
		s.report(&archive.PathError{Path: path, Op: op, Err: err})
	}
}

// Next returns the next entry's header; io.EOF after the last. The
// directory missing, or not a directory, is its error.
func (s *walkSource) Next() (*archive.Header, error) {
	s.closeFile()
	if !s.started {
		s.started = true
		st, err := lstat(s.root)
		if err == nil && st.mode&abi.S_IFMT != abi.S_IFDIR {
			err = abi.ENOTDIR
		}
		if err != nil {
			return nil, &archive.PathError{Path: s.root, Err: hostErr(err)}
		}
		names, err := readNames(s.root)
		if err != nil {
			return nil, err
		}
		s.dirs = append(s.dirs, walkDir{path: s.root, name: ".", names: names})
		return s.header(s.root, "./", &st), nil
	}
	for len(s.dirs) > 0 {
		d := &s.dirs[len(s.dirs)-1]
		if len(d.names) == 0 {
			s.dirs = s.dirs[:len(s.dirs)-1]
			continue
		}
		n := d.names[0]
		d.names = d.names[1:]
		p, name := filepath.Join(d.path, n), d.name+"/"+n
		st, err := lstat(p)
		if err != nil {
			s.fail(p, "lstat", hostErr(err))
			continue
		}
		if h := s.entry(p, name, &st); h != nil {
			return h, nil
		}
	}
	return nil, io.EOF
}

// entry returns the header of the entry p, named name, and prepares its
// data; nil when it is left out (reported).
func (s *walkSource) entry(p, name string, st *hostStat) *archive.Header {
	typ := st.mode & abi.S_IFMT
	if typ == abi.S_IFSOCK {
		s.fail(p, "", archive.ErrSocket)
		return nil
	}
	if typ != abi.S_IFDIR && st.nlink > 1 {
		if first, ok := s.links[st.id]; ok {
			h := s.header(p, name, st)
			h.Typeflag, h.Linkname, h.Size = archive.TypeLink, first, 0
			return h
		}
		s.links[st.id] = name
	}
	h := s.header(p, name, st)
	switch typ {
	case abi.S_IFDIR:
		names, err := readNames(p)
		if err != nil && s.report != nil {
			s.report(err)
		}
		s.dirs = append(s.dirs, walkDir{path: p, name: name, names: names})
	case abi.S_IFREG:
		f, err := openSource(p)
		if err != nil {
			s.fail(p, "open", err)
			return nil
		}
		s.file, s.open = f, true
		s.extents = s.extents[:0]
		if st.blocks*512 >= st.size {
			s.extents = append(s.extents, archive.Extent{Length: st.size})
		} else if err := f.regions(st.size, func(start, end int64) error {
			s.extents = append(s.extents, archive.Extent{Offset: start, Length: end - start})
			return nil
		}); err != nil {
			s.fail(p, "seek", err)
			s.extents = append(s.extents[:0], archive.Extent{Length: st.size})
		}
		if len(s.extents) != 1 || s.extents[0] != (archive.Extent{Length: st.size}) {
			h.Sparse = slices.Clone(s.extents)
		}
		if st.size == 0 {
			s.extents = s.extents[:0]
		}
	case abi.S_IFLNK:
		target, err := readlink(p)
		if err != nil {
			s.fail(p, "readlink", err)
			return nil
		}
		h.Linkname = target
	}
	return h
}

// header is the header of the entry p named name, without its data.
func (s *walkSource) header(p, name string, st *hostStat) *archive.Header {
	h := &archive.Header{
		Name:  name,
		Mode:  st.mode & 0o7777,
		Uid:   st.uid,
		Gid:   st.gid,
		Mtime: archive.Time{Sec: st.mtime.Sec, Nsec: st.mtime.Nsec},
	}
	switch st.mode & abi.S_IFMT {
	case abi.S_IFREG:
		h.Typeflag, h.Size = archive.TypeReg, st.size
	case abi.S_IFDIR:
		h.Typeflag = archive.TypeDir
	case abi.S_IFLNK:
		h.Typeflag = archive.TypeSymlink
	case abi.S_IFCHR, abi.S_IFBLK:
		h.Typeflag = archive.TypeChar
		if st.mode&abi.S_IFMT == abi.S_IFBLK {
			h.Typeflag = archive.TypeBlock
		}
		h.Devmajor, h.Devminor = abi.Major(st.rdev), abi.Minor(st.rdev)
	case abi.S_IFIFO:
		h.Typeflag = archive.TypeFifo
	}
	xs, err := s.c.readXattrs(func(b []byte) (int, error) { return listXattrs(p, b) },
		func(n string, b []byte) (int, error) { return getXattr(p, n, b) })
	if err != nil {
		s.fail(p, "read xattrs", err)
	}
	for _, x := range xs {
		h.Xattrs = append(h.Xattrs, archive.Xattr{Name: x.name, Value: x.value})
	}
	return h
}

// Read reads the current regular file's data: its extents' bytes one
// after another; zeros where the file shrank since its lstat.
func (s *walkSource) Read(p []byte) (int, error) {
	for len(s.extents) > 0 && s.extents[0].Length == 0 {
		s.extents = s.extents[1:]
	}
	if len(s.extents) == 0 || !s.open {
		return 0, io.EOF
	}
	e := &s.extents[0]
	p = p[:min(int64(len(p)), e.Length)]
	n, err := s.file.pread(p, e.Offset)
	if n <= 0 {
		if err != nil {
			return 0, err
		}
		clear(p) // the file shrank: the size promised is kept
		n = len(p)
	}
	e.Offset += int64(n)
	e.Length -= int64(n)
	return n, nil
}

// closeFile closes the current regular file, if any.
func (s *walkSource) closeFile() {
	if s.open {
		s.file.close()
		s.open = false
	}
	s.extents = s.extents[:0]
}

// Close ends the walk.
func (s *walkSource) Close() error {
	s.closeFile()
	s.dirs = nil
	return nil
}

// readNames returns the names in the host directory p, sorted bytewise,
// and those it could read when the listing fails part way. Its error is
// a *PathError whose Op says which step failed: "open" or "readdir".
func readNames(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, &PathError{Path: p, Op: "open", Err: unwrapPath(err)}
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	slices.Sort(names)
	if err != nil {
		return names, &PathError{Path: p, Op: "readdir", Err: unwrapPath(err)}
	}
	return names, nil
}
