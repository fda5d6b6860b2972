package archive

import "strconv"

// sparseMap encodes the map of a GNU sparse 1.0 entry (GNU tar manual,
// "Sparse Formats", format 1.0): the number of regions, then each region's
// offset and length, every number in decimal on a line of its own, padded
// with zeros to a whole block. It is stored at the start of the entry's
// data, before the regions' bytes.
//
// The map ends with a region of length zero at the file's size, as GNU
// tar writes it: GNU tar extends the file to that offset when it extracts
// (it truncates there), which restores a trailing hole.
func sparseMap(extents []Extent, size int64) []byte {
	b := strconv.AppendInt(nil, int64(len(extents)+1), 10)
	b = append(b, '\n')
	for _, e := range extents {
		b = strconv.AppendInt(b, e.Offset, 10)
		b = append(b, '\n')
		b = strconv.AppendInt(b, e.Length, 10)
		b = append(b, '\n')
	}
	b = strconv.AppendInt(b, size, 10)
	b = append(b, "\n0\n"...)
	return append(b, make([]byte, padding(int64(len(b))))...)
}

// AlignExtents widens data regions to whole 512-byte blocks (within size)
// and merges those that then meet, as a sparse entry needs (GNU tar reads
// each region from a new block). The widened parts are holes, which read
// as zeros. Filesystems give block-aligned regions anyway; only the last
// block of a file is partial.
func AlignExtents(extents []Extent, size int64) []Extent {
	out := make([]Extent, 0, len(extents))
	for _, e := range extents {
		start := e.Offset &^ (blockSize - 1)
		end := min((e.Offset+e.Length+blockSize-1)&^(blockSize-1), size)
		if n := len(out); n > 0 && out[n-1].Offset+out[n-1].Length >= start {
			out[n-1].Length = max(out[n-1].Length, end-out[n-1].Offset)
			continue
		}
		out = append(out, Extent{Offset: start, Length: end - start})
	}
	return out
}
