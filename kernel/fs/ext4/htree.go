package ext4

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"sort"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Hash tree directories (Documentation/filesystems/ext4/directory.rst,
// "Hash Tree Directories"; struct dx_root, dx_node, dx_entry, dx_tail in
// fs/ext4/namei.c). Block 0 is dx_root: fake "." and ".." entries, then
// dx_root_info {reserved_zero u32, hash_version u8, info_length u8,
// indirect_levels u8, unused_flags u8}, then the dx_entry array whose first
// slot holds {limit u16, count u16} in place of a hash. Interior dx_node
// blocks start with a fake empty entry spanning the block, then the array.
// With metadata_csum a dx_tail {reserved u32, checksum u32} follows limit
// entries.
const (
	dxRootInfoOffset  = 0x18
	dxRootCountOffset = 0x20 // with info_length 8
	dxNodeCountOffset = 8
	dxEntrySize       = 8
	dxTailSize        = 8
	dxRootInfoLen     = 8
)

// errBadDx says the index is not usable and a linear scan must do, as
// ERR_BAD_DX_DIR makes ext4_find_entry fall back.
var errBadDx = errors.New("ext4: bad htree index")

// isIndexed reports whether the directory uses its htree index.
func (ip *inode) isIndexed() bool {
	return ip.flags&inodeIndexFl != 0 && ip.f.sb.hasCompat(compatDirIndex)
}

// dxCountOffset returns where dx_countlimit is in a dx root or node block
// (get_dx_countlimit), or false if b is neither.
func dxCountOffset(b []byte, blockSize uint32) (int, bool) {
	le := binary.LittleEndian
	if len(b) < direntHeaderSize {
		return 0, false
	}
	rl := recLenFromDisk(le.Uint16(b[4:]), blockSize)
	if rl == blockSize && le.Uint32(b[0:]) == 0 {
		return dxNodeCountOffset, true
	}
	if rl != 12 || len(b) < dxRootCountOffset+4 {
		return 0, false
	}
	if recLenFromDisk(le.Uint16(b[12+4:]), blockSize) != blockSize-12 {
		return 0, false
	}
	if le.Uint32(b[dxRootInfoOffset:]) != 0 || b[dxRootInfoOffset+5] != dxRootInfoLen {
		return 0, false
	}
	return dxRootCountOffset, true
}

// verifyDxCsum checks the dx_tail of a root or node block: crc32c over the
// block up to the used entries, then the tail's reserved word and a zero
// checksum (ext4_dx_csum).
func (ip *inode) verifyDxCsum(b []byte, countOff int, lblk uint64) error {
	le := binary.LittleEndian
	limit := int(le.Uint16(b[countOff:]))
	count := int(le.Uint16(b[countOff+2:]))
	tail := countOff + limit*dxEntrySize
	if count > limit || tail+dxTailSize > len(b) {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree block %d: no space for tree checksum", ip.ino, lblk)
	}
	c := csum32(ip.f.crcTab, ip.csumSeed, b[:countOff+count*dxEntrySize])
	c = csum32(ip.f.crcTab, c, b[tail:tail+4])
	var zero [4]byte
	c = csum32(ip.f.crcTab, c, zero[:])
	if got := le.Uint32(b[tail+4:]); got != c {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree block %d: bad checksum %#08x, want %#08x", ip.ino, lblk, got, c)
	}
	return nil
}

// dxEntries decodes the dx_countlimit at countOff and checks it; the
// returned slice holds count entries (entry 0's hash is implicitly 0).
func dxEntries(b []byte, countOff int) ([]byte, int, error) {
	le := binary.LittleEndian
	if countOff+4 > len(b) {
		return nil, 0, errBadDx
	}
	limit := int(le.Uint16(b[countOff:]))
	count := int(le.Uint16(b[countOff+2:]))
	if count == 0 || count > limit || countOff+limit*dxEntrySize > len(b) {
		return nil, 0, errBadDx
	}
	return b[countOff : countOff+count*dxEntrySize], count, nil
}

// dxLookup finds name through the index (dx_probe, then the leaf): it
// hashes the name, descends by binary search to a leaf block and scans it,
// and follows a hash collision into the next leaf. errBadDx means the index
// cannot be used.
func (ip *inode) dxLookup(name string) (uint32, error) {
	f := ip.f
	le := binary.LittleEndian
	runs, err := ip.blockRuns()
	if err != nil {
		return 0, err
	}
	buf := f.getBlock()
	defer f.putBlock(buf)
	ok, err := ip.dirBlock(runs, 0, buf)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errBadDx
	}
	co, isDx := dxCountOffset(buf, f.blockSize)
	if !isDx || co != dxRootCountOffset {
		return 0, errBadDx
	}
	info := buf[dxRootInfoOffset:]
	version := info[4]
	levels := int(info[6])
	maxLevels := 2
	if f.sb.hasIncompat(incompatLargedir) {
		maxLevels = 3
	}
	if levels >= maxLevels {
		return 0, errBadDx
	}
	hash, ok := ip.dxHash(version, []byte(name))
	if !ok {
		return 0, errBadDx
	}
	nblocks := ip.dirBlocks()
	var next uint32 // hash of the index entry after the one taken, at the last level
	var leaf uint64
	for level := 0; ; level++ {
		ents, count, err := dxEntries(buf, co)
		if err != nil {
			return 0, err
		}
		at := dxFind(ents, count, hash)
		blk := uint64(le.Uint32(ents[at*dxEntrySize+4:]) & 0x0fffffff)
		if blk >= nblocks {
			return 0, errBadDx
		}
		if at+1 < count {
			next = le.Uint32(ents[(at+1)*dxEntrySize:])
		} else {
			next = 0
		}
		if level == levels {
			leaf = blk
			break
		}
		ok, err := ip.dirBlock(runs, blk, buf)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree block %d: directory hole", ip.ino, blk)
		}
		if co, isDx = dxCountOffset(buf, f.blockSize); !isDx || co != dxNodeCountOffset {
			return 0, errBadDx
		}
	}
	ok, err = ip.dirBlock(runs, leaf, buf)
	if err != nil {
		return 0, err
	}
	if ok {
		ino, err := ip.searchDirBlock(buf, leaf, name)
		if err != nil || ino != 0 {
			return ino, err
		}
	}
	// The name's hash continues in the next leaf (the next entry's hash
	// has its low "continued" bit set): ext4_htree_next_block. Rare
	// enough that a linear scan serves it.
	if next&1 != 0 && next&^1 == hash {
		return ip.lookupLinear(name)
	}
	return 0, abi.ENOENT
}

// dxHash computes the name hash of ext4fs_dirhash for a dx_root's
// hash_version, made unsigned when s_flags says so; ok is false for an
// unknown version (or siphash, which needs casefolding).
func (ip *inode) dxHash(version uint8, name []byte) (uint32, bool) {
	h, _, ok := ip.dxHash2(version, name)
	return h, ok
}

// dxHash2 is dxHash returning the minor hash too (ext4fs_dirhash); in a
// casefolded directory it hashes the casefolded name.
func (ip *inode) dxHash2(version uint8, name []byte) (hash, minor uint32, ok bool) {
	f := ip.f
	name = ip.hashName(name)
	if version <= hashTea && !f.hashSigned {
		version += 3
	}
	buf := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	if s := f.sb.sHashSeed; s != [4]uint32{} {
		buf = s
	}
	switch version {
	case hashLegacy, hashLegacyUnsigned:
		hash = dxHackHash(name, version == hashLegacy)
	case hashHalfMD4, hashHalfMD4Unsigned:
		var in [8]uint32
		for p := name; ; p = p[32:] {
			str2hashbuf(p, in[:], version == hashHalfMD4)
			halfMD4Transform(&buf, &in)
			if len(p) <= 32 {
				break
			}
		}
		hash, minor = buf[1], buf[2]
	case hashTea, hashTeaUnsigned:
		var in [4]uint32
		for p := name; ; p = p[16:] {
			str2hashbuf(p, in[:], version == hashTea)
			teaTransform(&buf, &in)
			if len(p) <= 16 {
				break
			}
		}
		hash, minor = buf[0], buf[1]
	default:
		return 0, 0, false
	}
	hash &^= 1
	if hash == 0x7fffffff<<1 { // EXT4_HTREE_EOF_32BIT << 1
		hash = (0x7fffffff - 1) << 1
	}
	return hash, minor, true
}

// char reads a name byte as C's char, signed or unsigned.
func char(c byte, signed bool) uint32 {
	if signed {
		return uint32(int32(int8(c)))
	}
	return uint32(c)
}

// dxHackHash is the legacy hash (dx_hack_hash).
func dxHackHash(name []byte, signed bool) uint32 {
	h0, h1 := uint32(0x12a3fe2d), uint32(0x37abe8f9)
	for _, c := range name {
		h := h1 + (h0 ^ char(c, signed)*7152373)
		if h&0x80000000 != 0 {
			h -= 0x7fffffff
		}
		h1, h0 = h0, h
	}
	return h0 << 1
}

// str2hashbuf packs up to 4*len(out) bytes of the name into words, padded
// with the length (str2hashbuf_signed/unsigned).
func str2hashbuf(msg []byte, out []uint32, signed bool) {
	n := len(msg)
	pad := uint32(n) | uint32(n)<<8
	pad |= pad << 16
	val := pad
	num := len(out)
	if n > num*4 {
		n = num * 4
	}
	k := 0
	for i := 0; i < n; i++ {
		val = char(msg[i], signed) + val<<8
		if i%4 == 3 {
			out[k] = val
			k++
			val = pad
		}
	}
	if k < num {
		out[k] = val
		k++
	}
	for ; k < num; k++ {
		out[k] = pad
	}
}

// halfMD4Transform is the half MD4 of fs/ext4/hash.c.
func halfMD4Transform(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0o13240474631, 0o15666365641
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	F := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	G := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	H := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	r := bits.RotateLeft32
	a = r(a+F(b, c, d)+in[0], 3)
	d = r(d+F(a, b, c)+in[1], 7)
	c = r(c+F(d, a, b)+in[2], 11)
	b = r(b+F(c, d, a)+in[3], 19)
	a = r(a+F(b, c, d)+in[4], 3)
	d = r(d+F(a, b, c)+in[5], 7)
	c = r(c+F(d, a, b)+in[6], 11)
	b = r(b+F(c, d, a)+in[7], 19)

	a = r(a+G(b, c, d)+in[1]+k2, 3)
	d = r(d+G(a, b, c)+in[3]+k2, 5)
	c = r(c+G(d, a, b)+in[5]+k2, 9)
	b = r(b+G(c, d, a)+in[7]+k2, 13)
	a = r(a+G(b, c, d)+in[0]+k2, 3)
	d = r(d+G(a, b, c)+in[2]+k2, 5)
	c = r(c+G(d, a, b)+in[4]+k2, 9)
	b = r(b+G(c, d, a)+in[6]+k2, 13)

	a = r(a+H(b, c, d)+in[3]+k3, 3)
	d = r(d+H(a, b, c)+in[7]+k3, 9)
	c = r(c+H(d, a, b)+in[2]+k3, 11)
	b = r(b+H(c, d, a)+in[6]+k3, 15)
	a = r(a+H(b, c, d)+in[1]+k3, 3)
	d = r(d+H(a, b, c)+in[5]+k3, 9)
	c = r(c+H(d, a, b)+in[0]+k3, 11)
	b = r(b+H(c, d, a)+in[4]+k3, 15)

	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}

// teaTransform is the TEA of fs/ext4/hash.c (16 rounds).
func teaTransform(buf *[4]uint32, in *[4]uint32) {
	const delta = 0x9E3779B9
	var sum uint32
	b0, b1 := buf[0], buf[1]
	a, b, c, d := in[0], in[1], in[2], in[3]
	for n := 0; n < 16; n++ {
		sum += delta
		b0 += ((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >> 5) + b)
		b1 += ((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >> 5) + d)
	}
	buf[0] += b0
	buf[1] += b1
}

// Hash-order readdir (ext4_dx_readdir, ext4_htree_fill_tree in
// fs/ext4/dir.c and namei.c). Linux reads a directory in hash order
// whenever the filesystem has dir_index and the directory is indexed, is
// one block long, or is inline (is_dx_dir); its positions are
// hash2pos(hash, minor_hash) = (hash>>1)<<32 | minor_hash, and the end is
// EXT4_HTREE_EOF_64BIT: those of the 64-bit API (a 32-bit caller, or NFS
// with FMODE_32BITHASH, would get hash>>1 and EXT4_HTREE_EOF_32BIT).
//
// Linux fills an rbtree of names from a few blocks at a time (a "fill")
// and emits it in (hash, minor_hash) order. Names with equal hashes form a
// chain on one tree node, emitted together at one position: the first
// name stored heads the chain and each later one is linked right after
// the head (ext4_htree_store_dirent), so a chain of names stored a, b, c,
// d reads a, d, c, b. The driver keeps no per-open state: each call
// redoes the fill its position falls in, which stores a chain's names in
// the same order, and the VFS's cursor resumes inside a chain (see
// vfs.DirReader).
const htreeEOF64 = 0x7fffffffffffffff

// dxDirent is one entry with its hashes, for sorting.
type dxDirent struct {
	hash, minor uint32
	de          vfsDirent
	// dot marks "." and "..": Linux stores them in the tree, where
	// they head their chains; ReadDir leaves them out, ReadDirDots
	// emits them.
	dot bool
}

// vfsDirent is the part of an entry ReadDir reports.
type vfsDirent struct {
	name  string
	ino   uint32
	ftype uint8
}

func (e *dxDirent) pos() int64 { return int64(e.hash>>1)<<32 | int64(e.minor) }

func dxLess(a, b *dxDirent) bool {
	return a.hash < b.hash || a.hash == b.hash && a.minor < b.minor
}

// dxChainOrder sorts the entries of one fill, given in the order Linux
// stores them, into the order it emits them: by (hash, minor_hash), and
// inside a chain the first stored, then the others from the last stored
// back (ext4_htree_store_dirent links each new one after the head).
func dxChainOrder(ents []dxDirent) {
	sort.SliceStable(ents, func(a, b int) bool { return dxLess(&ents[a], &ents[b]) })
	for i := 0; i < len(ents); {
		j := i + 1
		for j < len(ents) && !dxLess(&ents[i], &ents[j]) {
			j++
		}
		slices.Reverse(ents[i+1 : j])
		i = j
	}
}

// usesHashOrder reports whether Linux reads this directory in hash order.
func (ip *inode) usesHashOrder() bool {
	if !ip.f.sb.hasCompat(compatDirIndex) {
		return false
	}
	return ip.flags&inodeIndexFl != 0 || ip.flags&inodeInlineDataFl != 0 ||
		uint64(ip.size)>>ip.f.blockBits == 1
}

// dxLeaf is a leaf block pointer of the index with the lowest hash it holds.
type dxLeaf struct {
	hash uint32
	blk  uint64
}

// dxLeaves reads the index and returns its leaves in hash order, the hash
// version and the root's "." and ".." (at hashes 0 and 2, as
// ext4_htree_fill_tree stores them), or errBadDx.
func (ip *inode) dxLeaves(runs []run) ([]dxLeaf, uint8, [2]dxDirent, error) {
	f := ip.f
	le := binary.LittleEndian
	buf := make([]byte, f.blockSize)
	var dots [2]dxDirent
	ok, err := ip.dirBlock(runs, 0, buf)
	if err != nil {
		return nil, 0, dots, err
	}
	co, isDx := dxCountOffset(buf, f.blockSize)
	if !ok || !isDx || co != dxRootCountOffset {
		return nil, 0, dots, errBadDx
	}
	// struct dx_root: "." at 0 and ".." at 12, each {inode u32,
	// rec_len u16, name_len u8, file_type u8, name[4]}.
	for i, name := range []string{".", ".."} {
		e := buf[12*i:]
		dots[i] = dxDirent{hash: uint32(2 * i), dot: true, de: vfsDirent{name: name, ino: le.Uint32(e), ftype: e[7]}}
		if !f.sb.hasIncompat(incompatFiletype) {
			dots[i].de.ftype = 0
		}
	}
	version := buf[dxRootInfoOffset+4]
	levels := int(buf[dxRootInfoOffset+6])
	maxLevels := 2
	if f.sb.hasIncompat(incompatLargedir) {
		maxLevels = 3
	}
	if levels >= maxLevels {
		return nil, 0, dots, errBadDx
	}
	nblocks := ip.dirBlocks()
	budget := int(nblocks) // index blocks that may be read
	var leaves []dxLeaf
	// walk visits a root or node; firstHash is the hash its first slot
	// covers from (the parent entry's).
	var walk func(b []byte, co, level int, firstHash uint32) error
	walk = func(b []byte, co, level int, firstHash uint32) error {
		ents, count, err := dxEntries(b, co)
		if err != nil {
			return err
		}
		// Copy the entries: the buffer is reused one level down.
		type ent struct {
			hash uint32
			blk  uint64
		}
		list := make([]ent, count)
		for i := range list {
			list[i].blk = uint64(le.Uint32(ents[i*dxEntrySize+4:]) & 0x0fffffff)
			if i > 0 {
				list[i].hash = le.Uint32(ents[i*dxEntrySize:])
			} else {
				list[i].hash = firstHash
			}
			if list[i].blk >= nblocks {
				return errBadDx
			}
		}
		child := make([]byte, f.blockSize)
		for _, e := range list {
			if level == levels {
				leaves = append(leaves, dxLeaf{hash: e.hash, blk: e.blk})
				continue
			}
			if budget--; budget < 0 {
				return errBadDx
			}
			ok, err := ip.dirBlock(runs, e.blk, child)
			if err != nil {
				return err
			}
			cco, isDx := dxCountOffset(child, f.blockSize)
			if !ok || !isDx || cco != dxNodeCountOffset {
				return errBadDx
			}
			if err := walk(child, cco, level+1, e.hash); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(buf, co, 0, 0); err != nil {
		return nil, 0, dots, err
	}
	return leaves, version, dots, nil
}

// hashBlockEntries collects the entries of one directory block (or inline
// area) whose position is at or after (startHash, startMinor), in block
// order, as htree_dirblock_to_tree stores them.
func (ip *inode) hashBlockEntries(b []byte, lblk uint64, version uint8, startHash, startMinor uint32, out []dxDirent) ([]dxDirent, error) {
	filetype := ip.f.sb.hasIncompat(incompatFiletype)
	var entErr error
	perr := parseDirBlock(b, uint32(len(b)), filetype, func(off int, d dirent) bool {
		if d.inode == 0 {
			return true
		}
		if entErr = ip.checkEntry(lblk, off, d); entErr != nil {
			return false
		}
		h, m, _ := ip.dxHash2(version, d.name)
		if h < startHash || h == startHash && m < startMinor {
			return true
		}
		if isDot(d.name) {
			out = append(out, dxDirent{hash: h, minor: m, dot: true, de: vfsDirent{name: string(d.name), ino: d.inode, ftype: d.ftype}})
			return true
		}
		name, err := ip.userName(d.name, h, m)
		if err != nil {
			entErr = ip.dirErr(lblk, err)
			return false
		}
		out = append(out, dxDirent{hash: h, minor: m, de: vfsDirent{name: name, ino: d.inode, ftype: d.ftype}})
		return true
	})
	// After a bad entry the rest of the block is ignored, as
	// htree_dirblock_to_tree does; the entries before it are kept and
	// the damage is returned with them.
	if entErr != nil {
		return out, entErr
	}
	if perr != nil {
		return out, ip.dirErr(lblk, perr)
	}
	return out, nil
}

// dxFill returns the entries one ext4_htree_fill_tree call stores from
// (startHash, startMinor), in the order it stores them, and the hash the
// next fill starts from (^0 when none follows). damaged is a bad entry
// or block found on the way (its block's other entries are kept).
type dxFill func(startHash, startMinor uint32, out []dxDirent) (ents []dxDirent, next uint32, damaged, err error)

// dxFiller returns the fill function of the directory and its hash
// version, or errBadDx.
func (ip *inode) dxFiller() (dxFill, uint8, error) {
	f := ip.f
	version := f.sb.sDefHashVersion
	if ip.flags&inodeInlineDataFl != 0 {
		regions, _, err := ip.inlineDirRegions()
		if err != nil {
			return nil, 0, err
		}
		// htree_inlinedir_to_tree stores a fake "." and ".." (hashed
		// as names), then the entries.
		return func(startHash, startMinor uint32, out []dxDirent) ([]dxDirent, uint32, error, error) {
			var damaged error
			for i, dot := range []string{".", ".."} {
				if h, m, _ := ip.dxHash2(version, []byte(dot)); h > startHash || h == startHash && m >= startMinor {
					ino := [2]uint32{ip.ino, ip.inlineParent()}[i]
					out = append(out, dxDirent{hash: h, minor: m, dot: true, de: vfsDirent{name: dot, ino: ino, ftype: ip.dotFtype()}})
				}
			}
			for _, r := range regions {
				if len(r) > 0 {
					var err error
					out, err = ip.hashBlockEntries(r, 0, version, startHash, startMinor, out)
					damaged = cmp.Or(damaged, err)
				}
			}
			return out, ^uint32(0), damaged, nil
		}, version, nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return nil, 0, err
	}
	if ip.flags&inodeIndexFl == 0 {
		// One block, not indexed: its entries, "." and ".." hashed as
		// names.
		return func(startHash, startMinor uint32, out []dxDirent) ([]dxDirent, uint32, error, error) {
			buf := f.getBlock()
			defer f.putBlock(buf)
			ok, err := ip.dirBlock(runs, 0, buf)
			if err != nil || !ok {
				return out, ^uint32(0), nil, err
			}
			out, damaged := ip.hashBlockEntries(buf, 0, version, startHash, startMinor, out)
			return out, ^uint32(0), damaged, nil
		}, version, nil
	}
	leaves, version, dots, err := ip.dxLeaves(runs)
	if err != nil {
		return nil, 0, err
	}
	return func(startHash, startMinor uint32, out []dxDirent) ([]dxDirent, uint32, error, error) {
		// dx_probe: the last leaf whose hash (continuation bit
		// included) is at most startHash.
		i := max(sort.Search(len(leaves), func(i int) bool { return leaves[i].hash > startHash })-1, 0)
		// "." and ".." come from the root, at hashes 0 and 2.
		if startHash == 0 && startMinor == 0 {
			out = append(out, dots[0])
		}
		if startHash < 2 || startHash == 2 && startMinor == 0 {
			out = append(out, dots[1])
		}
		buf := f.getBlock()
		defer f.putBlock(buf)
		var damaged error
		// Read leaves until one entry is stored and the next leaf does
		// not continue a hash (low bit clear).
		for ; i < len(leaves); i++ {
			ok, err := ip.dirBlock(runs, leaves[i].blk, buf)
			if err != nil {
				return out, 0, damaged, err
			}
			if ok {
				out, err = ip.hashBlockEntries(buf, leaves[i].blk, version, startHash, startMinor, out)
				damaged = cmp.Or(damaged, err)
			}
			if i+1 < len(leaves) && len(out) > 0 && leaves[i+1].hash&1 == 0 {
				return out, leaves[i+1].hash, damaged, nil
			}
		}
		return out, ^uint32(0), damaged, nil
	}, version, nil
}

// readDirHashOrder is ReadDir in hash order, with "." and ".." if dots. It
// returns errBadDx when the index cannot be used, and the caller reads the
// directory linearly, as ext4_readdir does after clearing the index flag.
func (ip *inode) readDirHashOrder(pos int64, dots bool, em *dirEmitter) error {
	if pos == htreeEOF64 || pos < 0 {
		return nil
	}
	if _, _, ok := ip.dxHash2(ip.f.sb.sDefHashVersion, []byte("x")); !ok && ip.flags&inodeIndexFl == 0 {
		return errBadDx
	}
	fill, version, err := ip.dxFiller()
	if err != nil {
		return err
	}
	if _, _, ok := ip.dxHash2(version, []byte("x")); !ok {
		return errBadDx
	}
	var damaged error // a bad entry: the rest of its block is skipped
	hash, minor := uint32(pos>>32)<<1, uint32(pos)
	var ents []dxDirent
	for {
		var next uint32
		var bad error
		ents, next, bad, err = fill(hash, minor, ents[:0])
		if err != nil {
			return err
		}
		damaged = cmp.Or(damaged, bad)
		dxChainOrder(ents)
		for k := range ents {
			e := &ents[k]
			if e.dot && !dots {
				continue
			}
			if !em.add(e.pos(), direntOf(e.de.name, e.de.ino, e.de.ftype)) {
				return nil
			}
		}
		if next == ^uint32(0) {
			break
		}
		if next <= hash {
			// Leaves out of hash order would have the fills go
			// round for ever.
			damaged = cmp.Or(damaged, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree leaves out of hash order", ip.ino))
			break
		}
		hash, minor = next, 0
	}
	if !em.end(htreeEOF64) {
		return nil
	}
	if damaged == nil && pos > 0 && ip.flags&inodeInlineDataFl == 0 {
		// The listing ends in this call: report damage an earlier call
		// went past. Hash order visits every leaf, so a linear pass
		// over the blocks finds it.
		if runs, err := ip.blockRuns(); err == nil {
			damaged = ip.dirDamage(runs, 0, ip.dirBlocks())
		}
	}
	return damaged
}

// dxFind returns the index of the entry of a dx node (count entries at
// ents) whose range holds hash: the last whose hash is <= hash, entry 0
// (the node's first block, with no hash) when none is, as dx_probe's
// binary search.
func dxFind(ents []byte, count int, hash uint32) int {
	lo, hi := 1, count-1
	for lo <= hi {
		m := lo + (hi-lo)/2
		if le.Uint32(ents[m*dxEntrySize:]) > hash {
			hi = m - 1
		} else {
			lo = m + 1
		}
	}
	return lo - 1
}
