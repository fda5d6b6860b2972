package ext4

import (
	"errors"
	"io"
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Regular file data: the extent tree or block map flattened into runs of
// contiguous blocks, read straight into the caller's buffer with one device
// read per physically contiguous run.

// run maps n logical blocks from lblk to physical blocks from pblk.
// unwritten runs (preallocated extents) read as zeros.
type run struct {
	lblk, pblk, n uint64
	unwritten     bool
}

// appendRun appends r to runs, merging it into the last run when both are
// logically and physically contiguous and of the same kind.
func appendRun(runs []run, r run) []run {
	if k := len(runs) - 1; k >= 0 {
		l := &runs[k]
		if l.lblk+l.n == r.lblk && l.pblk+l.n == r.pblk && l.unwritten == r.unwritten {
			l.n += r.n
			return runs
		}
	}
	return append(runs, r)
}

// mapDamage is the error of a block map or extent tree that fails from
// logical block from on: runs are the inode's runs before it, which
// Linux still reads, as it maps a file block by block
// (ext4_map_blocks) where the driver builds its map whole.
type mapDamage struct {
	from uint64
	runs []run
	err  error
}

func (e *mapDamage) Error() string { return e.err.Error() }
func (e *mapDamage) Unwrap() error { return e.err }

// newMapDamage is a mapDamage of err from logical block from on, keeping
// runs' blocks before it.
func newMapDamage(runs []run, from uint64, err error) error {
	var keep []run
	for _, r := range runs {
		if r.lblk >= from {
			break
		}
		r.n = min(r.n, from-r.lblk)
		keep = append(keep, r)
	}
	return &mapDamage{from: from, runs: keep, err: err}
}

// blockRuns returns the inode's block map, building it on first use.
func (ip *inode) blockRuns() ([]run, error) {
	ip.mapMu.Lock()
	defer ip.mapMu.Unlock()
	if ip.mapped {
		return ip.runs, nil
	}
	var runs []run
	var err error
	switch {
	case ip.flags&disk.InodeInlineDataFl != 0:
		return nil, nil
	case ip.flags&disk.InodeExtentsFl != 0:
		runs, err = ip.extentRuns()
	default:
		runs, err = ip.blockMapRuns()
	}
	if err != nil {
		return nil, err
	}
	ip.runs, ip.mapped = runs, true
	return runs, nil
}

// findRun returns the index of the first run that ends after lblk.
func findRun(runs []run, lblk uint64) int {
	return sort.Search(len(runs), func(i int) bool { return runs[i].lblk+runs[i].n > lblk })
}

// Open refuses an encrypted file, whose key the driver never has: ENOKEY,
// as fscrypt_file_open returns without the key (ext4_file_open), or
// ENODATA or EINVAL for a missing or damaged encryption context; and a
// verity file opened for writing: EPERM, as fsverity_file_open refuses
// it (its Merkle tree past i_size covers the contents as they are).
func (fi fileInode) Open(flags int) error {
	defer fi.f.rlock()()
	if fi.flags&disk.InodeEncryptFl != 0 {
		// fscrypt_require_key reads the context before it looks
		// for the key: a missing or bad one is its own error.
		if _, err := fi.fscryptPolicy(); err != nil {
			return err
		}
		return abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted file, no key", fi.ino)
	}
	if fi.flags&disk.InodeVerityFl != 0 && flags&abi.O_ACCMODE != abi.O_RDONLY {
		return abi.Errorf(abi.EPERM, "ext4: inode %d: verity file opened for writing", fi.ino)
	}
	return nil
}

// OpenIn refuses a file opened through an encrypted directory whose
// policy it does not share, an unencrypted one included: EPERM, as
// fscrypt_file_open ("inconsistent encryption contexts"), after Open's
// ENOKEY for an encrypted file.
func (fi fileInode) OpenIn(parent vfs.Inode, flags int) error {
	defer fi.f.rlock()()
	dir, ok := fi.f.toInode(parent)
	if !ok || dir.fscryptPermitted(fi.inode) {
		return nil
	}
	fi.f.log.Printf("fscrypt: inconsistent encryption contexts: %d/%d", dir.ino, fi.ino)
	return abi.Errorf(abi.EPERM, "ext4: inode %d: inconsistent encryption contexts: %d/%d", fi.ino, dir.ino, fi.ino)
}

// ReadAt reads file data at off (ext4_file_read_iter). Holes and unwritten
// extents read as zeros; it returns io.EOF with the bytes read at the end of
// the file. Errors: ENOKEY for encrypted contents; EIO from the device,
// and for a damaged block map (dataErr).
func (fi fileInode) ReadAt(p []byte, off int64) (int, error) {
	defer fi.f.rlock()()
	n, err := fi.readData(p, off)
	return n, dataErr(err)
}

// dataErr is the error read(2) of a regular file gives for err: EIO for
// damage in the file's block map (EUCLEAN, EBADMSG), which Linux meets
// filling the page cache (ext4_mpage_readpages fails the folio, and
// filemap_read_folio reports EIO), the cause kept in the message.
func dataErr(err error) error {
	if err != nil && isDamage(err) {
		return abi.Errorf(abi.EIO, "%v", err)
	}
	return err
}

// readData reads the inode's data (a file's, or a slow symlink's).
func (ip *inode) readData(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= ip.size {
		return 0, io.EOF
	}
	if ip.flags&disk.InodeEncryptFl != 0 {
		return 0, abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted contents", ip.ino)
	}
	return ip.readRaw(p, off)
}

// readRaw is readData without the encryption check: the bytes as stored
// (an encrypted symlink's ciphertext).
func (ip *inode) readRaw(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= ip.size {
		return 0, io.EOF
	}
	n := len(p)
	var eof error
	if int64(n) > ip.size-off {
		n = int(ip.size - off)
		eof = io.EOF
	}
	p = p[:n]
	if ip.flags&disk.InodeInlineDataFl != 0 {
		data, err := ip.inlineData()
		if err != nil {
			return 0, err
		}
		c := 0
		if off < int64(len(data)) {
			c = copy(p, data[off:])
		}
		clear(p[c:])
		return n, eof
	}
	f := ip.f
	bits := f.BlockBits
	runs, mapErr := ip.blockRuns()
	if mapErr != nil {
		// A damaged map fails the read from the page holding the
		// first block it cannot map; the pages before it are read
		// and returned, as filemap_read returns what it copied
		// before the folio that failed (the next read fails).
		var d *mapDamage
		if !errors.As(mapErr, &d) {
			return 0, mapErr
		}
		limit := int64(d.from<<bits) &^ (pageSize - 1)
		if off >= limit {
			return 0, mapErr
		}
		runs = d.runs
		if off+int64(n) > limit {
			n, eof = int(limit-off), nil
			p = p[:n]
		}
	}
	pos, end := off, off+int64(n)
	i := findRun(runs, uint64(pos)>>bits)
	for pos < end {
		lblk := uint64(pos) >> bits
		for i < len(runs) && runs[i].lblk+runs[i].n <= lblk {
			i++
		}
		dst := p[pos-off:]
		if i == len(runs) || runs[i].lblk > lblk {
			// A hole up to the next run.
			stop := end
			if i < len(runs) {
				stop = min(stop, int64(runs[i].lblk<<bits))
			}
			clear(dst[:stop-pos])
			pos = stop
			continue
		}
		r := runs[i]
		stop := min(end, int64((r.lblk+r.n)<<bits))
		seg := dst[:stop-pos]
		if r.unwritten {
			clear(seg)
		} else {
			phys := int64(r.pblk+lblk-r.lblk)<<bits + pos&int64(f.BlockSize-1)
			if _, err := f.dev.ReadAt(seg, phys); err != nil {
				return int(pos - off), abi.Errorf(abi.EIO, "ext4: inode %d: read block %d: %v", ip.ino, phys>>bits, err)
			}
		}
		pos = stop
		i++
	}
	if mapErr != nil {
		return n, mapErr
	}
	if f.ra != nil {
		ip.readahead(runs, end, n)
	}
	return n, eof
}

// pageSize is the page size of the Linux the driver reads as: page
// cache reads fail or succeed a page at a time.
const pageSize = 4096

// readahead asks the device to start reading the file's next blocks, after
// a read that ended at end, over a window of eight read sizes, up to
// 8 MiB (the block layer caps it at a quarter of the page cache): a
// reader of 1 MiB reads (fs2tar's) keeps 4 to 8 MiB in flight ahead of it.
func (ip *inode) readahead(runs []run, end int64, n int) {
	f := ip.f
	window := min(max(int64(n)*8, 256<<10), 8<<20)
	if end+window > ip.size {
		window = ip.size - end
	}
	if window <= 0 {
		return
	}
	// Skip the call while an earlier readahead still covers half the
	// window; after a seek elsewhere, start again from end.
	from := end
	if ra := ip.raEnd.Load(); ra >= end && ra <= end+2*window {
		if ra >= end+window/2 {
			return
		}
		from = ra
	}
	ip.raEnd.Store(end + window)
	bits := f.BlockBits
	first := uint64(from) >> bits
	last := uint64(end+window-1) >> bits
	for i := findRun(runs, first); i < len(runs) && runs[i].lblk <= last; i++ {
		r := runs[i]
		if r.unwritten {
			continue
		}
		lo := max(r.lblk, first)
		hi := min(r.lblk+r.n-1, last)
		f.ra.Readahead(int64(r.pblk+lo-r.lblk)<<bits, int64(hi-lo+1)<<bits)
	}
}

// SeekData returns the first offset at or after off inside a written
// extent (unwritten extents count as holes, as iomap_seek_data sees them
// without cached pages), or ENXIO.
func (fi fileInode) SeekData(off int64) (int64, error) {
	defer fi.f.rlock()()
	ip := fi.inode
	if off < 0 || off >= ip.size {
		return 0, abi.ENXIO
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return off, nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return 0, err
	}
	bits := ip.f.BlockBits
	for i := findRun(runs, uint64(off)>>bits); i < len(runs); i++ {
		if runs[i].unwritten {
			continue
		}
		d := max(off, int64(runs[i].lblk<<bits))
		if d >= ip.size {
			break
		}
		return d, nil
	}
	return 0, abi.ENXIO
}

// SeekHole returns the first offset at or after off in a hole; the end of
// the file counts as one.
func (fi fileInode) SeekHole(off int64) (int64, error) {
	defer fi.f.rlock()()
	ip := fi.inode
	if off < 0 || off >= ip.size {
		return 0, abi.ENXIO
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return ip.size, nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return 0, err
	}
	bits := ip.f.BlockBits
	pos := off
	for i := findRun(runs, uint64(off)>>bits); i < len(runs); i++ {
		r := runs[i]
		if r.unwritten || int64(r.lblk<<bits) > pos {
			break
		}
		pos = int64((r.lblk + r.n) << bits)
	}
	return min(pos, ip.size), nil
}
