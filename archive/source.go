package archive

import "io"

// Source is a tree as a stream of entries, each header followed by its
// data: what a tar archive is (*Reader is one), and what the image
// writers (tools/squashfstools, tools/erofsutils) take, so that a tar, a
// host directory (hostcopy.DirSource) and another image all feed them
// the same way.
//
// Next returns the next entry's header, skipping what is left of the
// current one's data; io.EOF after the last. Read reads the current
// entry's data: a regular file's Size bytes, or, when its header has
// Sparse extents, only those extents' bytes one after another (the rest
// of the file is holes); io.EOF at its end.
//
// A stream may name an entry twice (the later one replaces the earlier,
// as tar -x does), name a hard link's target earlier in the stream
// (TypeLink, Linkname), and leave out directories its entries lie in
// (they are implied).
type Source interface {
	Next() (*Header, error)
	io.Reader
}

var _ Source = (*Reader)(nil)
