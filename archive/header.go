package archive

// Typeflag values of a ustar header (POSIX pax, "ustar Interchange Format").
const (
	TypeReg     = '0'
	TypeLink    = '1' // a hard link to an earlier entry, named by Linkname
	TypeSymlink = '2'
	TypeChar    = '3'
	TypeBlock   = '4'
	TypeDir     = '5'
	TypeFifo    = '6'
	typePAX     = 'x' // pax extended header for the next entry
)

// Time is a point in time as the kernel gives it: seconds since the epoch
// (possibly negative) and nanoseconds in [0, 1e9).
type Time struct {
	Sec  int64
	Nsec int64
}

// Xattr is one extended attribute. Value may hold any bytes.
type Xattr struct {
	Name  string
	Value []byte
}

// Extent is a region of a sparse file that holds data; everything outside
// the extents of a file reads as zeros (a hole).
type Extent struct {
	Offset int64
	Length int64
}

// Header describes one entry of the archive.
type Header struct {
	// Name is the entry's path as it should appear in the archive, such as
	// "./etc/passwd"; the writer adds the trailing "/" of a directory.
	Name     string
	Typeflag byte
	// Mode holds the permission bits with setuid, setgid and sticky (07777).
	Mode     uint32
	Uid, Gid uint32
	// Uname and Gname are the owner's names; empty (the default) means
	// numeric owners only, which extraction then uses as they are.
	Uname, Gname string
	// Size is the size of a regular file (its apparent size when sparse);
	// it is ignored for other types, which have no data.
	Size  int64
	Mtime Time
	// Atime and Ctime are written only when set.
	Atime, Ctime *Time
	// Linkname is the target of a symlink, or the earlier entry's name for
	// a hard link.
	Linkname           string
	Devmajor, Devminor uint32
	// Xattrs are written in the order given; callers sort them by name for
	// deterministic output.
	Xattrs []Xattr
	// Sparse, when not nil, makes a regular file a GNU sparse 1.0 entry
	// whose data is only these extents, in increasing order, not
	// overlapping, within Size. Its data written afterwards is then the
	// bytes of the extents, one after another.
	Sparse []Extent
}

// dataSize returns how many bytes of data the caller writes after the
// header: the file's size, or the sum of its extents when sparse.
func (h *Header) dataSize() int64 {
	if h.Typeflag != TypeReg {
		return 0
	}
	if h.Sparse == nil {
		return h.Size
	}
	var n int64
	for _, e := range h.Sparse {
		n += e.Length
	}
	return n
}
