package lklimgcmd

import (
	"archive/tar"
	"io"
	"os"
)

// tar2fsVirtualSize is the size of the sparse file a filesystem is made
// on when -s is not given and the archive's size is not known: 1 TiB,
// which ext4 with 4 KiB blocks holds without 64bit and every host
// filesystem holds as a sparse file (ext4's limit for a file is 16 TiB).
// Only what is written takes room.
const tar2fsVirtualSize = 1 << 40

// archiveSize is what an uncompressed archive file holds, as far as the
// filesystem's size goes.
type archiveSize struct {
	plain int64 // the file's size; 0 when not known (stdin, compressed)
	// headers is the bytes that are not file data (headers, pax records,
	// GNU long names and sparse maps, the end blocks), entries the
	// entries; when the archive was not scanned, plain and 0.
	headers, entries int64
}

// scanArchive reads the headers of the uncompressed archive file in, of
// size bytes, skipping the files' data (archive/tar seeks over it, and
// reads only its last byte), and rewinds it. An archive the reader
// cannot walk counts as all headers, as if not scanned: the import says
// what is wrong with it.
func scanArchive(in *os.File, size int64) (archiveSize, error) {
	a := archiveSize{plain: size, headers: size}
	c := &countingFile{f: in}
	tr := tar.NewReader(c)
	n := int64(0)
	var err error
	for ; err == nil; n++ {
		_, err = tr.Next()
	}
	if err == io.EOF && c.read < size {
		a.headers, a.entries = c.read, n-1
	}
	_, err = in.Seek(0, io.SeekStart)
	return a, err
}

// countingFile counts the bytes read from f; seeks are not reads.
type countingFile struct {
	f    *os.File
	read int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.read += int64(n)
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) { return c.f.Seek(off, whence) }

// virtualSize is the size of the sparse file the filesystem is made on
// when -s is not given: a bound on what the archive a can take, at least
// 1 GiB, so that mke2fs.conf's size type (block size, inode ratio) is the
// default one, as for the large file; tar2fsVirtualSize when the
// archive's size is not known. A filesystem much smaller than
// tar2fsVirtualSize has fewer groups to lay out, cut and search (on the
// 200 MiB bench archive mkfs went from 0.1 s to nothing), and, as the
// inode tables of a flex group lie in its first group, fewer tables of
// groups Minimize cuts left as free space in the group it keeps (15 at
// most: 120 MiB with bigalloc's 2 GiB groups).
//
// The bound: every 512 bytes of headers may be an entry, which may take
// an inode (16 KiB of the filesystem at mke2fs's ratio: 32 times the
// bytes; ratio/512 for another -i) and two blocks (a directory's, or a
// small file's, and an extent or xattr block: 2 blockSize/512 times the
// bytes); the files' data takes its bytes, and each entry's last block
// in part. Unscanned, every byte counts as headers. inodeRatio and
// blockSize are -i and -b, 0 when not given (16 KiB and 4 KiB, the
// default size type's); with bigalloc blockSize is the cluster's, the
// unit a block takes.
func virtualSize(a archiveSize, inodeRatio, blockSize int) int64 {
	if a.plain <= 0 {
		return tar2fsVirtualSize
	}
	if inodeRatio == 0 {
		inodeRatio = 16 << 10
	}
	if blockSize == 0 {
		blockSize = 4 << 10
	}
	const limit = tar2fsVirtualSize - 256<<20
	factor := max(int64(inodeRatio)/512, 2) + 2*int64(blockSize)/512
	if a.headers > limit/factor || a.entries > limit/int64(blockSize) {
		return tar2fsVirtualSize
	}
	n := a.headers*factor + (a.plain - a.headers) + a.entries*int64(blockSize)
	if n > limit {
		return tar2fsVirtualSize
	}
	return max(n+256<<20, 1<<30)
}
