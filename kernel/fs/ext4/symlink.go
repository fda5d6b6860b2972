package ext4

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Symbolic links (Documentation/filesystems/ext4/inodes.rst, i_block): a
// fast symlink keeps its target in i_block; a slow one in data blocks
// mapped like a file's; with inline_data, in i_block and system.data.

// isFastSymlink is ext4_inode_is_fast_symlink (fs/ext4/inode.c). Without
// the ea_inode feature: no inline data, and no blocks besides an extended
// attribute block. With it, the size alone decides, a nonzero size that
// fits in i_block: an xattr value kept in an ea_inode is charged to its
// owner's i_blocks, so a fast link may count blocks it has not (Linux
// commit "ext4: check fast symlink for ea_inode correctly").
func (ip *inode) isFastSymlink() bool {
	if ip.f.Super.HasIncompat(disk.IncompatEAInode) {
		return ip.size > 0 && ip.size < disk.IBlockLen
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return false
	}
	var eaBlocks int64
	if ip.fileACL != 0 {
		eaBlocks = int64(ip.f.BlockSize) >> 9
		if ip.f.Super.HasRoCompat(disk.RoCompatBigalloc) && ip.f.Super.SLogClusterSize >= ip.f.Super.SLogBlockSize &&
			ip.f.Super.SLogClusterSize-ip.f.Super.SLogBlockSize < 20 {
			eaBlocks <<= ip.f.Super.SLogClusterSize - ip.f.Super.SLogBlockSize
		}
	}
	return ip.blocks-eaBlocks == 0
}

// Readlink returns the link's target (ext4_get_link), or for an encrypted
// link the no-key form of its target (fscrypt.go). Errors: EUCLEAN for a
// target longer than its room or empty.
func (si symlinkInode) Readlink() (string, error) {
	defer si.f.rlock()()
	return si.readlink()
}

// readlink is Readlink under the read lock the caller holds.
func (ip *inode) readlink() (string, error) {
	// A fast link's length was checked at iget (decodeInode, as
	// __ext4_iget); a slow one's target, as ext4_get_link reads it, is
	// cut at i_size or at the room it has, whichever is shorter, and
	// readlink returns it up to its first NUL.
	var buf []byte
	if ip.isEncrypted() {
		// ext4_encrypted_get_link ignores i_size: fscrypt_get_symlink
		// takes the ciphertext's length from its header, within
		// i_block or the whole of block 0.
		return ip.readEncryptedLink()
	}
	if ip.isFastSymlink() {
		// Only an unlinked inode passes iget with a size of 0.
		if ip.size == 0 {
			return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: symlink: bad size 0", ip.ino)
		}
		buf = ip.iBlock[:min(ip.size, disk.IBlockLen-1)]
	} else {
		// ext4_get_link reads block 0 whatever i_size says (a slow
		// link of size 0 is the empty target), and calls a hole
		// there a bad symlink.
		if ip.flags&disk.InodeInlineDataFl == 0 {
			mapped, err := ip.block0Mapped()
			if err != nil {
				return "", err
			}
			if !mapped {
				return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: bad symlink: block 0 is a hole", ip.ino)
			}
		}
		buf = make([]byte, min(ip.size, int64(ip.f.BlockSize)-1))
		if len(buf) > 0 {
			if _, err := ip.readRaw(buf, 0); err != nil {
				return "", err
			}
		}
	}
	// The kernel's page-based link stops at a NUL (nd_terminate_link).
	for i, c := range buf {
		if c == 0 {
			buf = buf[:i]
			break
		}
	}
	return string(buf), nil
}

// readEncryptedLink is readlink of an encrypted link: the no-key form of
// the ciphertext in i_block (a fast link), its inline data, or block 0
// read whole whatever i_size says.
func (ip *inode) readEncryptedLink() (string, error) {
	if ip.isFastSymlink() {
		return ip.encryptedLink(ip.iBlock[:])
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		data, err := ip.inlineData()
		if err != nil {
			return "", err
		}
		return ip.encryptedLink(data)
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return "", err
	}
	p := pblkOf(runs, 0)
	if p == 0 {
		return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: bad symlink: block 0 is a hole", ip.ino)
	}
	buf := make([]byte, ip.f.BlockSize)
	if err := ip.f.readBlock(buf, p); err != nil {
		return "", abi.Errorf(abi.EIO, "ext4: inode %d: symlink block %d: %v", ip.ino, p, err)
	}
	return ip.encryptedLink(buf)
}

// block0Mapped reports whether logical block 0 has a block, whatever the
// size: the extent tree maps it regardless, an ext2 block map holds it in
// i_block[0] (blockMapRuns maps only the blocks below i_size).
func (ip *inode) block0Mapped() (bool, error) {
	if ip.flags&disk.InodeExtentsFl == 0 && ip.size == 0 {
		return binary.LittleEndian.Uint32(ip.iBlock[0:]) != 0, nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return false, err
	}
	i := findRun(runs, 0)
	return i < len(runs) && runs[i].lblk == 0, nil
}
