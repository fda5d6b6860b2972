// Package squashfstools is squashfs-tools' mksquashfs: Mkfs writes a
// SquashFS 4.0 image of a tree given as an archive.Source (a tar
// archive, a host directory) on a device (the block device the library
// kernel opens, or any io.ReaderAt and io.WriterAt), built on
// format/squashfs and never on the driver.
//
// What it writes, as mksquashfs 4.5 does by default:
//
//   - 128 KiB blocks (-b 4K to 1M), gzip (-comp gzip, xz, lzma, lz4,
//     zstd, lzo, with their -X options), every block compressed unless
//     that does not make it smaller, metadata blocks of 8 KiB;
//   - files smaller than a block in fragment blocks
//     (-always-use-fragments: the tails of larger files too;
//     -no-fragments: none), all-zero blocks as sparse blocks;
//   - duplicates found and shared (a hash of the contents, then the
//     bytes compared on disk);
//   - inode numbers, inode table, directory listings (headers, index
//     entries), id table and xattr records laid out as mksquashfs lays
//     them out: extended inodes where mksquashfs uses them (xattrs,
//     several links, sparse files, sizes past 32 bits, directory
//     indexes), xattr values stored out of line where it does;
//   - the export table (-no-exports: none), the image padded to 4 KiB.
//
// What differs, by design: data goes in the source's order (a stream
// is written as it is read), where mksquashfs sorts a directory's
// files first; the compressed bytes are those of the Go libraries, not
// of zlib, liblzma, liblz4, libzstd or liblzo (lzo is internal/lzo's
// LZO1X-1-style compressor; the options' algorithm says lzo1x_999 as
// mksquashfs's default does, which no reader uses); mtimes outside
// 1970-2106 are clamped and reported, where mksquashfs wraps them; xz's
// -Xdict-size below the block size and -Xbcj are not offered.
// A source's xattrs with another prefix than user., trusted. and
// security. (ACLs: system.posix_acl_*) are left out and reported, as
// mksquashfs leaves them out with a warning.
//
// The pipeline: the caller's goroutine reads the source and cuts files
// into blocks; a pool of workers compresses them; one writer goroutine
// writes them in order, packs fragments and checks duplicates. The
// inode and directory tables are built in memory after the data (tens
// of bytes per entry) and written after it, then the fragment, export,
// id and xattr tables, then the superblock.
package squashfstools
