package squashfs

import (
	"io"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Regular files (fs/squashfs/file.c): the blocks one after another from
// start_block, each as long on disk as its entry in the block list says
// (nothing for a sparse block); the tail, when the file has a fragment,
// at its offset in that fragment block. The block list is read as the
// file is, through a cursor (the next block's index, its place on the
// device, where its size word is), with a copy of the cursor kept every
// cursorStep blocks, so that reading anywhere costs at most cursorStep
// size words, as Linux's meta index (file.c's fill_meta_index) does.

// cursorStep is how many blocks apart the kept cursors are.
const cursorStep = 1024

// blockCursor is the place of block i of a file.
type blockCursor struct {
	i    uint64
	dev  int64  // where block i starts on the device
	list sq.Ref // block i's size word in the inode table
}

// block returns where block j starts on the device and its size word.
func (ip *inode) block(j uint64) (int64, uint32, error) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if j < ip.cur.i {
		k := j / cursorStep
		if k < uint64(len(ip.cps)) {
			ip.cur = ip.cps[k]
		} else {
			ip.cur = blockCursor{dev: int64(ip.sq.StartBlock), list: ip.extra}
		}
	}
	r := ip.f.reader(int64(ip.f.sb.InodeTableStart), ip.cur.list)
	var b [4]byte
	for {
		if ip.cur.i%cursorStep == 0 && ip.cur.i/cursorStep == uint64(len(ip.cps)) {
			ip.cps = append(ip.cps, ip.cur)
		}
		if _, err := r.Read(b[:]); err != nil {
			ip.cur = blockCursor{dev: int64(ip.sq.StartBlock), list: ip.extra}
			return 0, 0, err
		}
		w := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		if ip.cur.i == j {
			return ip.cur.dev, w, nil
		}
		size, _ := sq.DataBlockSize(w)
		ip.cur.i++
		ip.cur.dev += int64(size)
		ip.cur.list = r.ref()
	}
}

// ReadAt reads file data at off: whole blocks, sparse blocks as zeros,
// the tail from the fragment. A block that does not decompress to its
// length is EIO.
func (fi fileInode) ReadAt(p []byte, off int64) (int, error) {
	ip := fi.inode
	f := ip.f
	size := int64(ip.sq.FileSize)
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= size {
		return 0, io.EOF
	}
	bs := int64(f.sb.BlockSize)
	nblocks := ip.sq.Blocks(f.sb.BlockLog)
	want := min(int64(len(p)), size-off)
	n := int64(0)
	for n < want {
		pos := off + n
		j := uint64(pos / bs)
		in := pos % bs
		blen := min(bs, size-int64(j)*bs) // the block's bytes in the file
		chunk := min(want-n, blen-in)
		if j < nblocks {
			dev, w, err := ip.block(j)
			if err != nil {
				return int(n), where(err, "inode %d: block list", ip.sq.InodeNumber)
			}
			if bsize, _ := sq.DataBlockSize(w); bsize == 0 {
				clear(p[n : n+chunk])
			} else {
				ip.readahead(j, nblocks)
				f.mu.Lock()
				b, err := f.dataBlock(f.data, dev, w, int(blen), true)
				if err == nil {
					copy(p[n:n+chunk], b[in:])
				}
				f.mu.Unlock()
				if err != nil {
					return int(n), where(err, "inode %d: block %d", ip.sq.InodeNumber, j)
				}
			}
		} else {
			if err := ip.readFragment(p[n:n+chunk], in, blen); err != nil {
				return int(n), where(err, "inode %d: fragment %d", ip.sq.InodeNumber, ip.sq.Fragment)
			}
		}
		n += chunk
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// readFragment copies the tail's bytes from in into p: the tail is tail
// bytes at the inode's offset in its fragment block.
func (ip *inode) readFragment(p []byte, in, tail int64) error {
	f := ip.f
	if ip.sq.Fragment == sq.InvalidFrag {
		return abi.Errorf(abi.EIO, "squashfs: inode %d: block past its block list", ip.sq.InodeNumber)
	}
	fe := ip.frag
	end := int64(ip.sq.Offset) + tail
	next, nerr := f.fragment(ip.sq.Fragment + 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if nerr == nil {
		f.prefetch(f.frags, int64(next.StartBlock), next.Size)
	}
	data, err := f.dataBlock(f.frags, int64(fe.StartBlock), fe.Size, int(end), false)
	if err != nil {
		return err
	}
	copy(p, data[int64(ip.sq.Offset)+in:end])
	return nil
}

// fragment reads entry n of the fragment table (squashfs_frag_lookup).
func (f *fsys) fragment(n uint32) (sq.FragmentEntry, error) {
	slot, off := sq.TableRef(uint64(n), sq.FragmentEntrySize)
	if slot >= uint64(len(f.fragIndex)) {
		return sq.FragmentEntry{}, abi.Errorf(abi.EIO, "squashfs: fragment %d past the table", n)
	}
	var b [sq.FragmentEntrySize]byte
	if _, err := f.reader(0, sq.MakeRef(f.fragIndex[slot], uint16(off))).Read(b[:]); err != nil {
		return sq.FragmentEntry{}, err
	}
	fe, err := sq.DecodeFragmentEntry(b[:])
	if err != nil {
		return sq.FragmentEntry{}, err
	}
	if fe.StartBlock > 1<<62 {
		return sq.FragmentEntry{}, abi.Errorf(abi.EIO, "squashfs: fragment %d at %d", n, fe.StartBlock)
	}
	return fe, nil
}

// readahead asks the workers for the raDepth blocks after block j of the
// file (of nblocks), as a read of block j comes.
func (ip *inode) readahead(j, nblocks uint64) {
	f := ip.f
	for k := j + 1; k <= j+raDepth && k < nblocks; k++ {
		dev, w, err := ip.block(k)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.prefetch(f.data, dev, w)
		f.mu.Unlock()
	}
}
