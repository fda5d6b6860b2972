package ext4

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// isIndexed reports whether the directory uses its htree index.
func (ip *inode) isIndexed() bool {
	return ip.flags&disk.InodeIndexFl != 0 && ip.f.Super.HasCompat(disk.CompatDirIndex)
}

// verifyDxCsum checks the dx_tail of a root or node block: crc32c over the
// block up to the used entries, then the tail's reserved word and a zero
// checksum (ext4_dx_csum).
func (ip *inode) verifyDxCsum(b []byte, countOff int, lblk uint64) error {
	le := binary.LittleEndian
	limit := int(le.Uint16(b[countOff:]))
	count := int(le.Uint16(b[countOff+2:]))
	tail := countOff + limit*disk.DxEntrySize
	if count > limit || tail+disk.DxTailSize > len(b) {
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: htree block %d: no space for tree checksum", ip.ino, lblk)
	}
	c := disk.Csum32(ip.f.CrcTab, ip.csumSeed, b[:countOff+count*disk.DxEntrySize])
	c = disk.Csum32(ip.f.CrcTab, c, b[tail:tail+4])
	var zero [4]byte
	c = disk.Csum32(ip.f.CrcTab, c, zero[:])
	if got := le.Uint32(b[tail+4:]); got != c {
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: htree block %d: bad checksum %#08x, want %#08x", ip.ino, lblk, got, c)
	}
	return nil
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
		return 0, disk.ErrBadDx
	}
	co, isDx := disk.DxCountOffset(buf, f.BlockSize)
	if !isDx || co != disk.DxRootCountOffset {
		return 0, disk.ErrBadDx
	}
	info := buf[disk.DxRootInfoOffset:]
	version := info[4]
	levels := int(info[6])
	maxLevels := 2
	if f.Super.HasIncompat(disk.IncompatLargedir) {
		maxLevels = 3
	}
	if levels >= maxLevels {
		return 0, disk.ErrBadDx
	}
	hash, ok := ip.dxHash(version, []byte(name))
	if !ok {
		return 0, disk.ErrBadDx
	}
	nblocks := ip.dirBlocks()
	var next uint32 // hash of the leaf after the one taken (dxNextHash)
	var leaf uint64
	for level := 0; ; level++ {
		ents, count, err := disk.DxEntries(buf, co)
		if err != nil {
			return 0, err
		}
		at := disk.DxFind(ents, count, hash)
		blk := uint64(le.Uint32(ents[at*disk.DxEntrySize+4:]) & 0x0fffffff)
		if blk >= nblocks {
			return 0, disk.ErrBadDx
		}
		next = dxNextHash(ents, count, at, next)
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
		if co, isDx = disk.DxCountOffset(buf, f.BlockSize); !isDx || co != disk.DxNodeCountOffset {
			return 0, disk.ErrBadDx
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

// dxNextHash returns the hash that leads to the leaf after the one a
// lookup descends to, given the entries of the index block at one level,
// the entry taken there and the value for the level above: the next
// entry's hash when the entry taken is not the block's last, else the
// level above's. The leaf after the last one of an index node is the
// first leaf of the next node, whose hash is in the parent's next entry
// (a node's first entry has none): ext4_htree_next_block goes up the
// frames until one has an entry after the one taken. Taking only the last
// level's next entry would miss a hash continued into the first leaf of
// the next node, and a lookup of a name there would give ENOENT.
func dxNextHash(ents []byte, count, at int, above uint32) uint32 {
	if at+1 < count {
		return le.Uint32(ents[(at+1)*disk.DxEntrySize:])
	}
	return above
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
	if version <= disk.HashTea && !ip.f.hashSigned {
		version += 3
	}
	return disk.DirHash(version, ip.hashName(name), ip.f.Super.SHashSeed)
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
	if !ip.f.Super.HasCompat(disk.CompatDirIndex) {
		return false
	}
	return ip.flags&disk.InodeIndexFl != 0 || ip.flags&disk.InodeInlineDataFl != 0 ||
		uint64(ip.size)>>ip.f.BlockBits == 1
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
	buf := make([]byte, f.BlockSize)
	var dots [2]dxDirent
	ok, err := ip.dirBlock(runs, 0, buf)
	if err != nil {
		return nil, 0, dots, err
	}
	co, isDx := disk.DxCountOffset(buf, f.BlockSize)
	if !ok || !isDx || co != disk.DxRootCountOffset {
		return nil, 0, dots, disk.ErrBadDx
	}
	// struct dx_root: "." at 0 and ".." at 12, each {inode u32,
	// rec_len u16, name_len u8, file_type u8, name[4]}.
	for i, name := range []string{".", ".."} {
		e := buf[12*i:]
		dots[i] = dxDirent{hash: uint32(2 * i), dot: true, de: vfsDirent{name: name, ino: le.Uint32(e), ftype: e[7]}}
		if !f.Super.HasIncompat(disk.IncompatFiletype) {
			dots[i].de.ftype = 0
		}
	}
	version := buf[disk.DxRootInfoOffset+4]
	levels := int(buf[disk.DxRootInfoOffset+6])
	maxLevels := 2
	if f.Super.HasIncompat(disk.IncompatLargedir) {
		maxLevels = 3
	}
	if levels >= maxLevels {
		return nil, 0, dots, disk.ErrBadDx
	}
	nblocks := ip.dirBlocks()
	budget := int(nblocks) // index blocks that may be read
	var leaves []dxLeaf
	// walk visits a root or node; firstHash is the hash its first slot
	// covers from (the parent entry's).
	var walk func(b []byte, co, level int, firstHash uint32) error
	walk = func(b []byte, co, level int, firstHash uint32) error {
		ents, count, err := disk.DxEntries(b, co)
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
			list[i].blk = uint64(le.Uint32(ents[i*disk.DxEntrySize+4:]) & 0x0fffffff)
			if i > 0 {
				list[i].hash = le.Uint32(ents[i*disk.DxEntrySize:])
			} else {
				list[i].hash = firstHash
			}
			if list[i].blk >= nblocks {
				return disk.ErrBadDx
			}
		}
		child := make([]byte, f.BlockSize)
		for _, e := range list {
			if level == levels {
				leaves = append(leaves, dxLeaf{hash: e.hash, blk: e.blk})
				continue
			}
			if budget--; budget < 0 {
				return disk.ErrBadDx
			}
			ok, err := ip.dirBlock(runs, e.blk, child)
			if err != nil {
				return err
			}
			cco, isDx := disk.DxCountOffset(child, f.BlockSize)
			if !ok || !isDx || cco != disk.DxNodeCountOffset {
				return disk.ErrBadDx
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
func (ip *inode) hashBlockEntries(b []byte, lblk uint64, version uint8, startHash, startMinor uint32, out []dxDirent) (ents []dxDirent, damaged, err error) {
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	var entErr, nameErr error
	perr := disk.ParseDirBlock(b, uint32(len(b)), filetype, func(off int, d disk.Dirent) bool {
		if d.Inode == 0 {
			return true
		}
		if entErr = ip.checkEntry(lblk, off, d); entErr != nil {
			return false
		}
		h, m, _ := ip.dxHash2(version, d.Name)
		if h < startHash || h == startHash && m < startMinor {
			return true
		}
		if disk.IsDot(d.Name) {
			out = append(out, dxDirent{hash: h, minor: m, dot: true, de: vfsDirent{name: string(d.Name), ino: d.Inode, ftype: d.Ftype}})
			return true
		}
		name, err := ip.userName(d.Name, h, m)
		if err != nil {
			nameErr = ip.dirErr(lblk, err)
			return false
		}
		out = append(out, dxDirent{hash: h, minor: m, de: vfsDirent{name: name, ino: d.Inode, ftype: d.Ftype}})
		return true
	})
	// An encrypted name fscrypt_fname_disk_to_usr refuses fails the
	// read (htree_dirblock_to_tree returns its error).
	if nameErr != nil {
		return out, nil, nameErr
	}
	// After a bad entry the rest of the block is ignored, as
	// htree_dirblock_to_tree does; the entries before it are kept and
	// the damage is returned with them.
	if entErr != nil {
		return out, entErr, nil
	}
	if perr != nil {
		return out, ip.dirErr(lblk, perr), nil
	}
	return out, nil, nil
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
	version := f.Super.SDefHashVersion
	if ip.flags&disk.InodeInlineDataFl != 0 {
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
					var bad, err error
					if out, bad, err = ip.hashBlockEntries(r, 0, version, startHash, startMinor, out); err != nil {
						return out, 0, damaged, err
					}
					damaged = cmp.Or(damaged, bad)
				}
			}
			return out, ^uint32(0), damaged, nil
		}, version, nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return nil, 0, err
	}
	if ip.flags&disk.InodeIndexFl == 0 {
		// One block, not indexed: its entries, "." and ".." hashed as
		// names.
		return func(startHash, startMinor uint32, out []dxDirent) ([]dxDirent, uint32, error, error) {
			buf := f.getBlock()
			defer f.putBlock(buf)
			ok, err := ip.dirBlock(runs, 0, buf)
			if err == nil && !ok {
				err = ip.dxHole(0)
			}
			if err != nil {
				return out, ^uint32(0), nil, err
			}
			out, damaged, err := ip.hashBlockEntries(buf, 0, version, startHash, startMinor, out)
			return out, ^uint32(0), damaged, err
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
			if err == nil && !ok {
				err = ip.dxHole(leaves[i].blk)
			}
			if err != nil {
				return out, 0, damaged, err
			}
			var bad error
			if out, bad, err = ip.hashBlockEntries(buf, leaves[i].blk, version, startHash, startMinor, out); err != nil {
				return out, 0, damaged, err
			}
			damaged = cmp.Or(damaged, bad)
			if i+1 < len(leaves) && len(out) > 0 && leaves[i+1].hash&1 == 0 {
				return out, leaves[i+1].hash, damaged, nil
			}
		}
		return out, ^uint32(0), damaged, nil
	}, version, nil
}

// dxHole is the error of a hole where a hash-order read wants a leaf
// (ext4_read_dirblock's "Directory hole found for htree leaf block").
func (ip *inode) dxHole(lblk uint64) error {
	return abi.Errorf(abi.EFSCORRUPTED, "ext4: inode %d: directory hole found for htree leaf block %d", ip.ino, lblk)
}

// readDirHashOrder is ReadDir in hash order, with "." and ".." if dots. It
// returns errBadDx when the index cannot be used, and the caller reads the
// directory linearly, as ext4_readdir does after clearing the index flag.
func (ip *inode) readDirHashOrder(pos int64, dots bool, em *dirEmitter) error {
	if pos == htreeEOF64 || pos < 0 {
		return nil
	}
	if _, _, ok := ip.dxHash2(ip.f.Super.SDefHashVersion, []byte("x")); !ok && ip.flags&disk.InodeIndexFl == 0 {
		return disk.ErrBadDx
	}
	fill, version, err := ip.dxFiller()
	if err != nil {
		return err
	}
	if _, _, ok := ip.dxHash2(version, []byte("x")); !ok {
		return disk.ErrBadDx
	}
	// A bad entry: the rest of its block is skipped, and logged
	// (htree_dirblock_to_tree).
	hash, minor := uint32(pos>>32)<<1, uint32(pos)
	var ents []dxDirent
	for {
		var next uint32
		var bad error
		ents, next, bad, err = fill(hash, minor, ents[:0])
		if err != nil {
			// The names listed before the failing fill are
			// returned, the last one too (ext4_dx_readdir emitted
			// it before it filled again); the error comes after.
			em.end(int64(hash>>1)<<32 | int64(minor))
			return err
		}
		if bad != nil {
			ip.f.logError(bad)
		}
		dxChainOrder(ents)
		// A fill whose leaves hold names hashed at or past the next
		// fill's start (a damaged index, its leaves out of order)
		// lists them all, and the next fill goes back to the hashes
		// from its start: ext4_dx_readdir walks its sorted names and
		// lets the position go back. Such a fill is one run at the
		// position it started from, so that positions still grow and
		// a listing resumed mid-run makes the same fill again.
		run := int64(-1)
		if n := len(ents); n > 0 && next != ^uint32(0) && ents[n-1].pos() >= int64(next>>1)<<32 {
			run = int64(hash>>1)<<32 | int64(minor)
		}
		for k := range ents {
			e := &ents[k]
			if e.dot && !dots {
				continue
			}
			p := e.pos()
			if run >= 0 {
				p = run
			}
			if !em.add(p, direntOf(e.de.name, e.de.ino, e.de.ftype)) {
				return nil
			}
		}
		if next == ^uint32(0) {
			break
		}
		if next <= hash {
			// Leaves out of hash order would have the fills go
			// round for ever.
			ip.f.logError(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree leaves out of hash order", ip.ino))
			break
		}
		hash, minor = next, 0
	}
	em.end(htreeEOF64)
	return nil
}
