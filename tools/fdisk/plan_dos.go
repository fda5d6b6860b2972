package fdisk

import (
	"slices"

	"github.com/lklimg/lklimg/format/mbr"
)

// planDOS lays out an MBR table (libfdisk's dos.c): four primary slots,
// at most one extended partition, and logical partitions inside it, each
// behind its EBR. A line without a number takes the lowest free primary
// slot while one is free and there seems to be room outside the extended
// partition (freeOutside), else it becomes the next logical partition; a
// start given inside the extended partition makes it logical too. A default start
// leaves a grain before a logical partition for its EBR.
func planDOS(s *Script, t *Table, l *layout, ids *IDs) (*Table, error) {
	l.first, l.last, l.fit = l.grain, t.Sectors-1, true
	if t.Sectors < 2 {
		return nil, &Error{Msg: "the disk is too small for a partition table"}
	}
	var err error
	if t.DiskID, err = labelID(s, ids); err != nil {
		return nil, err
	}
	var ext *Partition
	var logicals []*Partition
	primaryUsed := func() []span {
		var u []span
		for _, q := range t.Partitions {
			if !q.Logical {
				u = append(u, span{q.Start, q.End()})
			}
		}
		return u
	}
	logicalUsed := func() []span {
		var u []span
		for _, q := range logicals {
			u = append(u, span{q.EBR, q.EBR}, span{q.Start, q.End()})
		}
		return u
	}
	freeSlot := func() int {
		for n := 1; n <= 4; n++ {
			if !slices.ContainsFunc(t.Partitions, func(q Partition) bool { return q.Number == n }) {
				return n
			}
		}
		return 0
	}
	for i := range s.Partitions {
		p := &s.Partitions[i]
		typ := p.Type
		if typ == "" {
			typ = "L"
		}
		code, ok := parseDOSType(typ)
		if !ok {
			return nil, lineErr(p.Line, "unknown MBR partition type %q (see sfdisk --label dos --list-types)", p.Type)
		}
		logical := false
		switch {
		case p.Number > 4:
			logical = true
		case p.Number > 0 || mbr.IsExtended(code):
		case ext != nil && startInside(p.Start, ext):
			logical = true
		default:
			logical = ext != nil && (freeSlot() == 0 || !l.freeOutside(t.Partitions, t.Sectors))
		}
		var q Partition
		if logical {
			if ext == nil {
				return nil, lineErr(p.Line, "logical partition without an extended partition")
			}
			num := 5 + len(logicals)
			if p.Number != 0 && p.Number != num {
				return nil, lineErr(p.Line, "partition %d: the next logical partition is %d", p.Number, num)
			}
			if mbr.IsExtended(code) {
				return nil, lineErr(p.Line, "partition %d: an extended partition inside the extended partition", num)
			}
			l.inRange, l.tinyExt = true, ext.Sectors < l.grain && len(logicals) > 0
			start, end, err := l.place(p, ext.Start, ext.End(), l.first, logicalUsed(), num)
			l.inRange, l.tinyExt = false, false
			if err != nil {
				return nil, err
			}
			if start == ext.Start {
				return nil, lineErr(p.Line, "partition %d: sector %d is the extended partition's EBR", num, start)
			}
			// The first logical partition's EBR is the extended
			// partition's first sector; another's a grain before it, or
			// the sector before it where that is not inside the extended
			// partition (as sfdisk places them).
			ebr := ext.Start
			if len(logicals) > 0 {
				ebr = start - 1
				if start > ext.Start+l.first {
					ebr = start - l.first
				}
				if ebr <= ext.Start || inUse(ebr, logicalUsed()) {
					return nil, lineErr(p.Line, "partition %d: sector %d for its EBR already used", num, ebr)
				}
			}
			q = Partition{Number: num, Start: start, Sectors: end - start + 1, Logical: true, EBR: ebr}
		} else {
			num := p.Number
			if num == 0 {
				if num = freeSlot(); num == 0 {
					return nil, lineErr(p.Line, "all four primary partitions are in use and there is no extended partition")
				}
			} else if slices.ContainsFunc(t.Partitions, func(q Partition) bool { return q.Number == num }) {
				return nil, lineErr(p.Line, "partition %d defined twice", num)
			}
			if mbr.IsExtended(code) && ext != nil {
				return nil, lineErr(p.Line, "partition %d: an extended partition exists already (partition %d)", num, ext.Number)
			}
			start, end, err := l.place(p, l.first, l.last, 0, primaryUsed(), num)
			if err != nil {
				return nil, err
			}
			if end > 0xFFFFFFFF {
				return nil, lineErr(p.Line, "partition %d: ends past 2 TiB, beyond what an MBR holds", num)
			}
			q = Partition{Number: num, Start: start, Sectors: end - start + 1, Extended: mbr.IsExtended(code)}
		}
		q.Type, q.Bootable = code, p.Bootable
		t.Partitions = append(t.Partitions, q)
		// Pointers into t.Partitions change as it grows: find them again.
		ext, logicals = nil, nil
		for k := range t.Partitions {
			switch {
			case t.Partitions[k].Extended:
				ext = &t.Partitions[k]
			case t.Partitions[k].Logical:
				logicals = append(logicals, &t.Partitions[k])
			}
		}
	}
	slices.SortFunc(t.Partitions, func(a, b Partition) int { return a.Number - b.Number })
	return t, nil
}

// startInside reports whether a start given as a number lies inside the
// extended partition.
func startInside(start string, ext *Partition) bool {
	v, bytes, err := parseAmount(start)
	if err != nil {
		return false
	}
	if bytes {
		v /= SectorSize
	}
	return v >= ext.Start && v <= ext.End()
}

// labelID is the DOS disk identifier: label-id (hex, 0x optional), or one
// from ids.
func labelID(s *Script, ids *IDs) (uint32, error) {
	if s.LabelID == "" {
		return ids.diskID(), nil
	}
	v, _, err := parseAmount(s.LabelID)
	if len(s.LabelID) < 2 || s.LabelID[:2] != "0x" {
		v, _, err = parseAmount("0x" + s.LabelID)
	}
	if err != nil || v > 0xFFFFFFFF {
		return 0, &Error{Msg: "label-id " + s.LabelID + ": not a 32-bit hex number"}
	}
	return uint32(v), nil
}

// freeOutside reports whether libfdisk's dos.c sees room for a primary
// partition: walking the used primary slots in slot order, a gap of at
// least a grain between the end of the one before (or the first usable
// sector) and a partition's start, or after the last one before the end
// of the disk. The walk is by slot, not by place, so it may see room
// where the extended partition lies (sfdisk then chooses a primary
// partition and fails for want of room, as Plan does).
func (l *layout) freeOutside(parts []Partition, sectors uint64) bool {
	first := l.first
	for n := 1; n <= 4; n++ {
		for _, q := range parts {
			if q.Number == n {
				if first+l.grain <= q.Start {
					return true
				}
				first = q.Start + q.Sectors
			}
		}
	}
	return first+l.grain <= sectors
}
