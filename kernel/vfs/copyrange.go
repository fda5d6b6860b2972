package vfs

import (
	"math"

	"github.com/lklimg/lklimg/kernel/abi"
)

// copyChunk is how much CopyFileRange moves through memory at a time.
const copyChunk = 128 << 10

// CopyFileRange is copy_file_range(2) between two open files of the VFS
// (vfs_copy_file_range as Linux 6.x checks it, then its generic copy,
// do_splice_direct: the bytes read from in and written to out, holes
// included, as none of our drivers can share blocks). Each offset is
// the pointer's, which advances, or the file's position when the pointer
// is nil. It copies at most n bytes (MAX_RW_COUNT in one call), fewer at
// in's end, and returns how many it copied: 0 at or past in's end.
//
// Errors, in Linux's order: EINVAL for flags; EISDIR if either is a
// directory, EINVAL if either is not a regular file; EBADF for in not open
// for reading, out not open for writing or O_APPEND; EOVERFLOW if an end
// overflows; EINVAL for ranges of one inode that overlap, or a negative
// offset; EXDEV for files of two mounts of different filesystems; what
// reads and writes return (EFBIG, ENOSPC, EIO: after a partial copy, its
// count).
func CopyFileRange(in *File, offIn *int64, out *File, offOut *int64, n int64, flags uint32) (int64, error) {
	if flags != 0 {
		return 0, abi.EINVAL
	}
	if in.IsPath() || out.IsPath() {
		return 0, abi.EBADF
	}
	if in.d.IsDir() || out.d.IsDir() {
		return 0, abi.EISDIR
	}
	if in.dev != nil || out.dev != nil || in.d.mode != abi.S_IFREG || out.d.mode != abi.S_IFREG {
		return 0, abi.EINVAL
	}
	if in.readable() != nil || out.writable() != nil || out.flags&abi.O_APPEND != 0 {
		return 0, abi.EBADF
	}
	posIn, posOut, release := copyPositions(in, offIn, out, offOut)
	defer release()
	if *posIn < 0 || *posOut < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	if *posIn > math.MaxInt64-n || *posOut > math.MaxInt64-n {
		return 0, abi.EOVERFLOW
	}
	attr, err := in.d.inode.Getattr()
	if err != nil {
		return 0, err
	}
	n = min(n, max(attr.Size-*posIn, 0), maxRWCount)
	if sameInode(in, out) && *posOut+n > *posIn && *posOut < *posIn+n {
		return 0, abi.EINVAL
	}
	if in.d.mnt.sb != out.d.mnt.sb {
		return 0, abi.EXDEV
	}
	if n == 0 {
		return 0, nil
	}
	buf := make([]byte, min(n, copyChunk))
	var done int64
	for done < n {
		k, err := in.pread(buf[:min(int64(len(buf)), n-done)], *posIn)
		if k == 0 || err != nil {
			return done, copyErr(done, err)
		}
		w, _, err := out.pwrite(buf[:k], *posOut, false)
		*posIn += int64(w)
		*posOut += int64(w)
		done += int64(w)
		if err != nil || w < k {
			return done, copyErr(done, err)
		}
	}
	return done, nil
}

// copyPositions returns where CopyFileRange reads and writes: the given
// offsets, or the files' positions, held (f_pos_lock) until release.
func copyPositions(in *File, offIn *int64, out *File, offOut *int64) (posIn, posOut *int64, release func()) {
	var locked []*File
	if offIn == nil {
		in.mu.Lock()
		locked, offIn = append(locked, in), &in.pos
	}
	if offOut == nil && out != in {
		out.mu.Lock()
		locked, offOut = append(locked, out), &out.pos
	} else if offOut == nil {
		offOut = &out.pos
	}
	return offIn, offOut, func() {
		for _, f := range locked {
			f.mu.Unlock()
		}
	}
}

// sameInode reports whether two files are of one inode (one mount's
// superblock, one inode number).
func sameInode(a, b *File) bool {
	return a.d.mnt.sb == b.d.mnt.sb && a.d.ino == b.d.ino
}

// copyErr is the error of a copy that stopped: none after some bytes
// (the count says it; a lasting error comes with the next call), else
// err.
func copyErr(done int64, err error) error {
	if done > 0 {
		return nil
	}
	return err
}
