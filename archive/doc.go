// Package archive turns a filesystem, seen through the library kernel's
// syscalls, into a tar stream.
//
// The tar side is a writer of our own (Writer), because Go's archive/tar
// cannot write sparse entries. It writes the POSIX.1-2001 pax interchange
// format (IEEE Std 1003.1, "pax" utility, "pax Interchange Format"): ustar
// headers, with a pax extended header ('x') before any entry whose fields do
// not fit ustar. It implements this subset:
//
//   - pax records path, linkpath, uid, gid, uname, gname, size, mtime (and atime, ctime on
//     request), and hdrcharset=BINARY when a name is not UTF-8: its bytes
//     are kept, libarchive accepts them only with that record (GNU tar
//     1.34 reads them either way, but warns it does not know hdrcharset);
//   - SCHILY.xattr.NAME records, one per extended attribute, as GNU tar
//     (--xattrs) and libarchive read them; values may be binary;
//   - sparse files in the GNU sparse format 1.0 (GNU tar manual, appendix
//     "Sparse Formats"): pax records GNU.sparse.major=1, GNU.sparse.minor=0,
//     GNU.sparse.name and GNU.sparse.realsize, and the map of data regions
//     as decimal lines at the start of the entry's data, padded to a block,
//     then the regions' bytes; every region is whole blocks but the one
//     that ends the file (see AlignExtents), and the map ends with a
//     region of length zero at the file's size, as GNU tar writes it.
//
// Output is deterministic by construction: pax records are sorted by key,
// uname and gname are empty unless asked for (owners are numeric), atime and ctime are left
// out unless asked for, and the names of pax and sparse pseudo-entries do
// not depend on the process id.
//
// The exporter (Export) walks a mounted tree with Openat, Getdents64,
// Fstatat, Readlinkat, Flistxattr/Fgetxattr (Llistxattr/Lgetxattr for
// what it does not open), Read/Pread and Lseek
// (SEEK_DATA/SEEK_HOLE), never through a filesystem driver, and writes
// what the kernel shows: every owner, mode, time, xattr, hard link, device
// number and hole. Options.Exclude leaves entries out (GNU tar's
// --exclude rules, Excluder); Options.Rewrite changes owners, names, times
// and xattrs in one step before each header is written; Resolve finds a
// subtree to export as a chrooted process would.
package archive
