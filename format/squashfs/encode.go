package squashfs

// The encoders: each structure's mirror of its decoder, appending the
// structure's bytes to a slice as squashfs_fs.h lays them out, for a
// writer (tools/squashfstools). They check nothing the caller controls
// beyond what would not fit its field; the caller plans the layout.

// Encode writes the superblock's 96 bytes into p.
func (s *Superblock) Encode(p []byte) {
	_ = p[SuperblockSize-1]
	le.PutUint32(p[0:], s.Magic)
	le.PutUint32(p[4:], s.Inodes)
	le.PutUint32(p[8:], s.MkfsTime)
	le.PutUint32(p[12:], s.BlockSize)
	le.PutUint32(p[16:], s.Fragments)
	le.PutUint16(p[20:], s.Compression)
	le.PutUint16(p[22:], s.BlockLog)
	le.PutUint16(p[24:], s.Flags)
	le.PutUint16(p[26:], s.NoIDs)
	le.PutUint16(p[28:], s.Major)
	le.PutUint16(p[30:], s.Minor)
	le.PutUint64(p[32:], s.RootInode)
	le.PutUint64(p[40:], s.BytesUsed)
	le.PutUint64(p[48:], s.IDTableStart)
	le.PutUint64(p[56:], s.XattrIDTableStart)
	le.PutUint64(p[64:], s.InodeTableStart)
	le.PutUint64(p[72:], s.DirectoryTableStart)
	le.PutUint64(p[80:], s.FragmentTableStart)
	le.PutUint64(p[88:], s.LookupTableStart)
}

// EncodeRdev is new_encode_dev (include/linux/kdev_t.h), DecodeRdev's
// mirror: the minor's low 8 bits, the major's 12 above them, the minor's
// high 12 bits above those.
func EncodeRdev(major, minor uint32) uint32 {
	return minor&0xff | major&0xfff<<8 | (minor&^0xff)<<12
}

func put16(b []byte, v uint16) []byte { return le.AppendUint16(b, v) }
func put32(b []byte, v uint32) []byte { return le.AppendUint32(b, v) }
func put64(b []byte, v uint64) []byte { return le.AppendUint64(b, v) }

// Append appends the inode's fixed part as its Type lays it out (the
// structs squashfs_*_inode), with a symlink's target; a regular file's
// block list (AppendBlockList) and an extended directory's index
// (DirIndex.Append) are the caller's to append after it. Fields too wide
// for a basic type are truncated: the caller picks the extended type
// when they do not fit.
func (i *Inode) Append(b []byte) []byte {
	b = put16(b, i.Type)
	b = put16(b, i.Mode)
	b = put16(b, i.UID)
	b = put16(b, i.GUID)
	b = put32(b, i.Mtime)
	b = put32(b, i.InodeNumber)
	switch i.Type {
	case TypeDir:
		b = put32(b, uint32(i.StartBlock))
		b = put32(b, i.Nlink)
		b = put16(b, uint16(i.FileSize))
		b = put16(b, uint16(i.Offset))
		b = put32(b, i.ParentInode)
	case TypeLDir:
		b = put32(b, i.Nlink)
		b = put32(b, uint32(i.FileSize))
		b = put32(b, uint32(i.StartBlock))
		b = put32(b, i.ParentInode)
		b = put16(b, i.IndexCount)
		b = put16(b, uint16(i.Offset))
		b = put32(b, i.Xattr)
	case TypeReg:
		b = put32(b, uint32(i.StartBlock))
		b = put32(b, i.Fragment)
		b = put32(b, i.Offset)
		b = put32(b, uint32(i.FileSize))
	case TypeLReg:
		b = put64(b, i.StartBlock)
		b = put64(b, i.FileSize)
		b = put64(b, i.Sparse)
		b = put32(b, i.Nlink)
		b = put32(b, i.Fragment)
		b = put32(b, i.Offset)
		b = put32(b, i.Xattr)
	case TypeSymlink, TypeLSymlink:
		b = put32(b, i.Nlink)
		b = put32(b, uint32(len(i.Target)))
		b = append(b, i.Target...)
		if i.Type == TypeLSymlink {
			b = put32(b, i.Xattr)
		}
	case TypeBlkdev, TypeChrdev, TypeLBlkdev, TypeLChrdev:
		b = put32(b, i.Nlink)
		b = put32(b, i.Rdev)
		if i.Type >= TypeLDir {
			b = put32(b, i.Xattr)
		}
	case TypeFifo, TypeSocket, TypeLFifo, TypeLSocket:
		b = put32(b, i.Nlink)
		if i.Type >= TypeLDir {
			b = put32(b, i.Xattr)
		}
	}
	return b
}

// AppendBlockList appends a regular file's block list: one size word
// (DataBlockWord) per block.
func AppendBlockList(b []byte, words []uint32) []byte {
	for _, w := range words {
		b = put32(b, w)
	}
	return b
}

// Append appends the directory header; Count is stored less one.
func (h DirHeader) Append(b []byte) []byte {
	b = put32(b, h.Count-1)
	b = put32(b, h.StartBlock)
	return put32(b, h.InodeNumber)
}

// Append appends the directory entry and its name (stored less one).
func (e DirEntry) Append(b []byte) []byte {
	b = put16(b, e.Offset)
	b = put16(b, uint16(e.InodeNumber))
	b = put16(b, e.Type)
	b = put16(b, uint16(len(e.Name)-1))
	return append(b, e.Name...)
}

// Append appends the directory index entry and its name (its size
// stored less one).
func (x DirIndex) Append(b []byte) []byte {
	b = put32(b, x.Index)
	b = put32(b, x.StartBlock)
	b = put32(b, uint32(len(x.Name)-1))
	return append(b, x.Name...)
}

// MetadataHeader returns a metadata block's header for size bytes on
// disk, stored compressed or not (DecodeMetadataHeader's mirror).
func MetadataHeader(size int, compressed bool) uint16 {
	h := uint16(size)
	if !compressed {
		h |= metadataUncompressed
	}
	return h
}

// DataBlockWord returns a data or fragment block's size word for size
// bytes on disk, stored compressed or not (DataBlockSize's mirror); a
// sparse block's is 0.
func DataBlockWord(size uint32, compressed bool) uint32 {
	if !compressed {
		size |= dataUncompressed
	}
	return size
}

// Append appends the fragment entry (its unused field zero).
func (f FragmentEntry) Append(b []byte) []byte {
	b = put64(b, f.StartBlock)
	b = put32(b, f.Size)
	return put32(b, 0)
}

// Append appends the xattr id table's header (its unused field zero).
func (t XattrIDTable) Append(b []byte) []byte {
	b = put64(b, t.XattrTableStart)
	b = put32(b, t.XattrIDs)
	return put32(b, 0)
}

// Append appends the xattr id.
func (x XattrID) Append(b []byte) []byte {
	b = put64(b, uint64(x.Xattr))
	b = put32(b, x.Count)
	return put32(b, x.Size)
}

// Append appends the xattr key: its type, its name's size and name.
func (k XattrKey) Append(b []byte) []byte {
	b = put16(b, k.Type)
	b = put16(b, uint16(len(k.Name)))
	return append(b, k.Name...)
}

// AppendXattrValue appends a value record (struct squashfs_xattr_val):
// its size and bytes.
func AppendXattrValue(b, v []byte) []byte {
	b = put32(b, uint32(len(v)))
	return append(b, v...)
}

// AppendXattrOOL appends an out-of-line value's record: the 8-byte
// reference to where the value is stored.
func AppendXattrOOL(b []byte, r Ref) []byte {
	b = put32(b, 8)
	return put64(b, uint64(r))
}

// XattrType splits a full xattr name into its key type and the name
// stored (without the prefix): false for a prefix SquashFS cannot store
// (only user., trusted. and security. are; mksquashfs leaves the others
// out with a warning).
func XattrType(name string) (uint16, string, bool) {
	for _, t := range []uint16{XattrUser, XattrTrusted, XattrSecurity} {
		p, _ := XattrPrefix(t)
		if len(name) > len(p) && name[:len(p)] == p {
			return t, name[len(p):], true
		}
	}
	return 0, "", false
}
