package lklimgcmd

import (
	"io"
	"os"

	"github.com/lklimg/lklimg/archive"
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
// size bytes, skipping the files' data (archive.Reader seeks over it,
// and reads only its last byte): headers is what was read but the data
// (the end's second zero block and padding are not read). An archive the reader cannot walk counts
// as all headers, as if not scanned: the import says what is wrong with
// it. The file's offset is not moved: it reads with pread (scanFile).
func scanArchive(in *os.File, size int64) (archiveSize, error) {
	a := archiveSize{plain: size, headers: size}
	c := &scanFile{f: in, size: size, buf: make([]byte, scanWindow)}
	tr := archive.NewReader(c)
	var data, n int64
	var err error
	for ; err == nil; n++ {
		if _, err = tr.Next(); err == nil {
			data += tr.DataSize()
		}
	}
	if c.err != nil {
		return a, c.err
	}
	if err == io.EOF && tr.Offset() <= size {
		a.headers, a.entries = tr.Offset()-data, n-1
	}
	return a, nil
}

// scanWindow is the bytes scanFile reads at a time: a few headers of
// small files, read in one pread rather than three syscalls each.
const scanWindow = 64 << 10

// scanFile is scanArchive's view of the archive: Seek only moves its
// position, and Read is served from a window of the file read with
// pread, so that skipping a file's data costs nothing and reading the
// next header (with the last byte of the data before it, which the
// reader reads to see that the archive does not end early) costs
// one pread per window, or none. It keeps the file's error apart from
// the end of the archive.
type scanFile struct {
	f         *os.File
	size, pos int64
	buf       []byte
	start     int64 // the file offset of buf[0]
	n         int   // the bytes of buf read
	err       error
}

func (c *scanFile) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if c.pos < c.start || c.pos >= c.start+int64(c.n) {
		n, err := c.f.ReadAt(c.buf, c.pos)
		if n == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank
			}
			c.err = err
			return 0, err
		}
		c.start, c.n = c.pos, n
	}
	n := copy(p, c.buf[c.pos-c.start:c.n])
	c.pos += int64(n)
	return n, nil
}

func (c *scanFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += c.pos
	case io.SeekEnd:
		off += c.size
	}
	if off < 0 {
		return c.pos, os.ErrInvalid
	}
	c.pos = off
	return off, nil
}

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
