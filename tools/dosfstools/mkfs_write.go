package dosfstools

import (
	"io"
	"time"

	"github.com/lklimg/lklimg/format/fat"
)

// mkfsChunk is the most Mkfs writes at once.
const mkfsChunk = 1 << 20

// patch is a structure at its place in the written area.
type patch struct {
	off int64
	b   []byte
}

// Mkfs makes the volume p describes on dev, as mkfs.fat 4.2 does: it
// writes the reserved sectors (zeros but the boot sector, and on FAT32 the
// FSInfo sector, the backup boot sector and its FSInfo copy), every FAT
// (entries 0 and 1, on FAT32 the root's end of chain in entry 2, zeros
// else) and the root directory (the label entry or zeros; on FAT32 its
// cluster), one run from the device's start, in large ordered writes.
// Nothing past the root directory is written.
func Mkfs(dev io.WriterAt, p MkfsParams) error {
	l, err := planMkfs(p)
	if err != nil {
		return err
	}
	ss := int64(l.sectorSize)
	end := int64(l.reserved)*ss + int64(l.boot.NumFATs)*int64(l.fatLength)*ss + int64(l.rootBytes)
	patches := l.patches()
	buf := make([]byte, min(end, mkfsChunk))
	for off := int64(0); off < end; off += mkfsChunk {
		n := min(end-off, mkfsChunk)
		clear(buf)
		for _, pt := range patches {
			if pt.off < off+n && pt.off+int64(len(pt.b)) > off {
				lo := max(pt.off, off)
				copy(buf[lo-off:], pt.b[lo-pt.off:])
			}
		}
		if _, err := dev.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return nil
}

// patches returns every structure of the written area that is not zeros.
func (l *mkfsLayout) patches() []patch {
	ss := int64(l.sectorSize)
	boot := make([]byte, fat.BootSectorSize)
	fat32 := l.bits == 32
	fat.PutBootCode(boot, fat32)
	l.boot.Encode(boot)
	ps := []patch{{0, boot}}
	if fat32 {
		// The FSInfo sector: every cluster free but the root's, the
		// search to start at it.
		info := make([]byte, 512)
		fat.FSInfo{FreeCount: l.clusters - 1, NextFree: fat.FirstCluster}.Encode(info)
		fs := int64(l.boot.FSInfo)
		ps = append(ps, patch{fs * ss, info})
		if bk := int64(l.boot.BkBootSec); bk != 0 {
			ps = append(ps, patch{bk * ss, boot})
			if bk+fs < int64(l.reserved) {
				ps = append(ps, patch{(bk + fs) * ss, info})
			}
		}
	}
	// Each FAT's first entries: the media byte in entry 0, end of chain
	// in entry 1, and on FAT32 the root directory's cluster 2.
	head := make([]byte, 12)
	e0, e1 := fat.ReservedEntries(l.bits, l.boot.Media)
	fat.PutEntry(l.bits, 0, head, e0)
	off, _ := fat.EntryOffset(l.bits, 1)
	fat.PutEntry(l.bits, 1, head[off:], e1)
	size := 3
	if l.bits == 16 {
		size = 4
	}
	if fat32 {
		// mkfs.fat's end of chain is 0x0FFFFFF8, not Linux's all ones.
		le.PutUint32(head[8:], 0x0FFFFFF8)
		size = 12
	}
	for i := range int64(l.boot.NumFATs) {
		ps = append(ps, patch{(int64(l.reserved) + i*int64(l.fatLength)) * ss, head[:size]})
	}
	if l.hasLabel {
		date, tm := l.labelTime()
		e := fat.LabelEntry(l.label, date, tm)
		de := make([]byte, fat.DirEntrySize)
		e.Encode(de)
		root := (int64(l.reserved) + int64(l.boot.NumFATs)*int64(l.fatLength)) * ss
		ps = append(ps, patch{root, de})
	}
	return ps
}

// labelTime is the label entry's date and time: the volume's time in its
// zone, or 1980-01-01 00:00:00 where the year is not 1980 to 2107.
func (l *mkfsLayout) labelTime() (date, tm uint16) {
	t := time.Unix(l.time+int64(l.timeOffset), 0).UTC()
	if t.Year() < 1980 || t.Year() > 2107 {
		return 1<<5 | 1, 0
	}
	date, tm, _ = fat.FromUnix(l.time, 0, l.timeOffset)
	return date, tm
}
