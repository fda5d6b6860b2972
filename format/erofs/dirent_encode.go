package erofs

// DirBlockUsed returns how many bytes of a directory block the entries
// named names take: an erofs_dirent and the name each.
func DirBlockUsed(names [][]byte) int {
	n := 0
	for _, name := range names {
		n += DirentSize + len(name)
	}
	return n
}

// SplitDirBlocks cuts a directory's entries, given by their names in
// sorted order, into blocks of blockSize bytes as they fill (the order
// kept, as erofs's lookup binary-searches the blocks by their first
// names and then within each). It returns where each block's entries
// start in names, and the bytes the last block uses (the directory's
// size is (len(starts)-1)*blockSize plus it). A name longer than
// NameLen does not fit; the caller refuses it before.
func SplitDirBlocks(names [][]byte, blockSize int) (starts []int, lastUsed int) {
	starts = []int{0}
	used := 0
	for i, name := range names {
		n := DirentSize + len(name)
		if used+n > blockSize {
			starts = append(starts, i)
			used = 0
		}
		used += n
	}
	return starts, used
}

// EncodeDirBlock writes one directory block's entries (in the order
// given: the caller sorts them) at the start of b, the array of
// erofs_dirent then the names, and returns the bytes used; the rest of
// b is left as it is (a block's end is zeroed by the caller, since the
// last name ends at the first NUL). It is DecodeDirBlock's mirror: b
// holds DirBlockUsed bytes.
func EncodeDirBlock(b []byte, ents []Dirent) int {
	nameoff := len(ents) * DirentSize
	for i, e := range ents {
		p := b[i*DirentSize:]
		le.PutUint64(p, e.Nid)
		le.PutUint16(p[8:], uint16(nameoff))
		p[10] = e.FileType
		p[11] = 0
		nameoff += copy(b[nameoff:], e.Name)
	}
	return nameoff
}
