package fdisk

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/format/gpt"
)

// Table is a partition table laid out on a disk: what Write writes.
type Table struct {
	// Label is "dos" or "gpt".
	Label string
	// Sectors is the disk's size in 512-byte sectors.
	Sectors uint64
	// DiskID is the DOS disk signature; DiskGUID the GPT's.
	DiskID   uint32
	DiskGUID gpt.GUID
	// FirstLBA and LastLBA bound GPT partitions (the header's usable
	// range); Entries is the GPT entry array's length.
	FirstLBA, LastLBA uint64
	Entries           uint32
	// Partitions in the order of their numbers.
	Partitions []Partition
}

// Partition is one partition of a Table.
type Partition struct {
	Number         int
	Start, Sectors uint64
	// MBR: the type byte, the boot flag; an extended partition, or a
	// logical one inside it and the sector of its EBR.
	Type     byte
	Bootable bool
	Extended bool
	Logical  bool
	EBR      uint64
	// GPT: the type and unique GUIDs, the name and the attribute bits.
	TypeGUID, UUID gpt.GUID
	Name           string
	Attrs          uint64
}

// End returns the partition's last sector.
func (p *Partition) End() uint64 { return p.Start + p.Sectors - 1 }

// span is a range of sectors in use, both ends inclusive.
type span struct{ a, b uint64 }

// layout is the state of Plan: the alignment and what is taken.
type layout struct {
	grain      uint64 // sectors
	first      uint64 // lowest sector a partition may start at
	last       uint64 // highest sector a partition may end at
	gptLast    bool   // GPT: a default size reaching last is aligned
	alignShort bool   // GPT: a suffixed size of at most a grain is not aligned
	largest    bool   // GPT: a default start is in the largest free range
	fit        bool   // DOS: a default start is where the size fits
	inRange    bool   // GPT, DOS logical: a default start aligned in its range
	tinyExt    bool   // DOS logical: the extended partition is under a grain
}

// Alignment (libfdisk's alignment.c): LBAs are aligned to the grain, 1 MiB
// on a disk of more than 4 MiB and one sector on a smaller one; a start is
// aligned up, an end to the nearest grain boundary inside the free range.
func (l *layout) up(x uint64) uint64 {
	if x < l.first {
		return l.first
	}
	if x%l.grain == 0 {
		return x
	}
	return (x/l.grain + 1) * l.grain
}

func (l *layout) down(x uint64) uint64 { return x / l.grain * l.grain }

func (l *layout) nearest(x uint64) uint64 {
	if x%l.grain == 0 {
		return x
	}
	return (x + l.grain/2) / l.grain * l.grain
}

// alignEnd is the last sector of a partition from start whose end lba is
// aligned inside the free range up to limit (fdisk_align_lba_in_range,
// then one sector less): the nearest grain boundary, kept between the
// start and the limit aligned inwards. A range too small to hold a
// boundary leaves lba as it is.
func (l *layout) alignEnd(start, lba, limit uint64) uint64 {
	e := lba
	if a, b := l.up(start), l.down(limit); a < b {
		e = min(max(l.nearest(lba), a), b)
	}
	if e > start {
		return e - 1
	}
	return e
}

// firstFree returns the lowest sector from x on that no span holds, after
// rounding up by l.up and adding skip: the default start.
func firstFree(x uint64, used []span, align func(uint64) uint64) uint64 {
	x = align(x)
	for moved := true; moved; {
		moved = false
		for _, s := range used {
			if x >= s.a && x <= s.b {
				x, moved = align(s.b+1), true
			}
		}
	}
	return x
}

// freeEnd returns the last sector of the free range holding start: before
// the next span, or limit.
func freeEnd(start, limit uint64, used []span) uint64 {
	for _, s := range used {
		if s.a > start && s.a-1 < limit {
			limit = s.a - 1
		}
	}
	return limit
}

// defaultStart returns the first default start from x on: skip sectors
// on (a logical partition's EBR and the grain after it), aligned up, and
// past each partition that holds it; with l.inRange (a GPT, a logical
// partition), a start in the free range at the end that holds no grain
// boundary after it stays unaligned, as fdisk_align_lba_in_range leaves
// it. A start past hi means none.
func (l *layout) defaultStart(x, hi, skip uint64, used []span) uint64 {
	for {
		c := l.up(x + skip)
		if l.inRange && c <= hi && freeEnd(x+skip, hi, used) == hi && l.up(x+skip) >= l.down(hi) {
			c = x + skip
		}
		if c > hi || !inUse(c, used) {
			return c
		}
		for _, s := range used {
			if c >= s.a && c <= s.b {
				x = s.b + 1
			}
		}
	}
}

// largestFree returns the first sector of the largest free range in
// [lo, hi] (the first of equals), as libfdisk's gpt.c places a default
// start (find_first_in_largest), a range shorter than min not counting;
// false if there is none.
func largestFree(lo, hi, min uint64, used []span) (uint64, bool) {
	sorted := slices.Clone(used)
	slices.SortFunc(sorted, func(a, b span) int { return cmp.Compare(a.a, b.a) })
	best, bestLen := lo, uint64(0)
	x := lo
	for _, s := range append(sorted, span{hi + 1, hi + 1}) {
		if s.a > x && s.a-x > bestLen && s.a-x >= min {
			best, bestLen = x, s.a-x
		}
		x = max(x, s.b+1)
	}
	return best, bestLen > 0
}

func inUse(x uint64, used []span) bool {
	for _, s := range used {
		if x >= s.a && x <= s.b {
			return true
		}
	}
	return false
}

// place computes a partition's start and last sector from its spec within
// [lo, hi] (skip: sectors kept free before a default start, for a
// logical partition's EBR).
//
// The default start is the first free sector, aligned up; on a GPT the
// first of the largest free range (libfdisk's find_first_in_largest), left
// unaligned when the range holds no grain boundary, on a DOS disk the
// first where a given size fits. The default size runs to
// the end of the free range; on a GPT a range that ends at the last
// usable sector ends at the last grain boundary instead. A size with a
// suffix is aligned (alignEnd): on a GPT when it is more than a grain,
// from its last sector, and one larger than the free range is cut to it,
// as sfdisk cuts it; on a DOS disk from the sector after it when that is
// inside the free range, and one under a grain is not aligned but takes
// one more sector, as sfdisk 2.38 gives it (dos.c's "tiny partition"
// keeps its stop one past the size).
// A size in sectors is taken as it is.
func (l *layout) place(p *PartitionSpec, lo, hi, skip uint64, used []span, num int) (start, end uint64, err error) {
	dflt := p.Size == "" || p.Size == "-" || p.Size == "+"
	var v uint64
	var bytes bool
	if !dflt {
		if v, bytes, err = parseAmount(p.Size); err != nil {
			return 0, 0, lineErr(p.Line, "partition %d: size %q: %v", num, p.Size, err)
		}
		if bytes {
			v /= SectorSize
		}
		if v == 0 {
			return 0, 0, lineErr(p.Line, "partition %d: size 0", num)
		}
	}
	switch p.Start {
	case "", "-", "+":
		if l.largest {
			var ok bool
			if lo, ok = largestFree(lo, hi, l.grain, used); !ok {
				return 0, 0, lineErr(p.Line, "partition %d: no free range of at least %d sectors", num, l.grain)
			}
		}
		start = l.defaultStart(lo, hi, skip, used)
		if l.fit && !dflt {
			// The next free range while the size does not fit.
			for start <= hi && start+v-1 > freeEnd(start, hi, used) {
				start = l.defaultStart(freeEnd(start, hi, used)+1, hi, skip, used)
			}
		}
		if start > hi && l.tinyExt {
			// In an extended partition smaller than a grain, a logical
			// partition after the first has its EBR at the first free
			// sector and starts at the next, as sfdisk places them.
			if x := firstFree(lo, used, func(x uint64) uint64 { return x }); x < hi && !inUse(x+1, used) {
				start = x + 1
			}
		}
		if start > hi {
			return 0, 0, lineErr(p.Line, "partition %d: no free sectors available", num)
		}
	default:
		s, inBytes, err := parseAmount(p.Start)
		if err != nil {
			return 0, 0, lineErr(p.Line, "partition %d: start %q: %v", num, p.Start, err)
		}
		if inBytes {
			s /= SectorSize
		}
		if s < lo || s > hi {
			return 0, 0, lineErr(p.Line, "partition %d: start %d is outside the usable sectors %d-%d", num, s, lo, hi)
		}
		if inUse(s, used) {
			return 0, 0, lineErr(p.Line, "partition %d: sector %d already used", num, s)
		}
		start = s
	}
	rawLimit := freeEnd(start, hi, used)
	limit := rawLimit
	if l.gptLast && limit == l.last {
		if e := l.alignEnd(start, limit, limit); e >= start {
			limit = e
		}
	}
	if dflt {
		return start, limit, nil
	}
	end = start + v - 1
	switch {
	case l.fit && end > rawLimit:
		// Checked before alignment, which would cut it.
		return 0, 0, lineErr(p.Line, "partition %d: %d sectors from %d do not fit: %d are free up to sector %d",
			num, v, start, rawLimit-start+1, rawLimit)
	case !bytes || l.grain == 1:
	case l.alignShort && v-1 > l.grain && end != limit:
		end = l.alignEnd(start, end, limit)
	case l.alignShort:
	case v < l.grain:
		end = start + v
	case start+v < limit:
		end = l.alignEnd(start, start+v, limit)
	}
	// On a GPT after the alignment, which may have cut the size to the
	// free range, as sfdisk checks it.
	if l.largest && end > l.last {
		return 0, 0, lineErr(p.Line, "partition %d: the last usable GPT sector is %d, but %d is requested", num, l.last, end)
	}
	if end > rawLimit || end < start {
		what := "the end of the usable sectors"
		if rawLimit < hi {
			what = "the next partition"
		}
		return 0, 0, lineErr(p.Line, "partition %d: %d sectors from %d do not fit: %d are free up to %s (sector %d)",
			num, v, start, rawLimit-start+1, what, rawLimit)
	}
	return start, end, nil
}

// SectorSize is the disks' logical sector size.
const SectorSize = 512

// smallDisk is the size up to which libfdisk does not align (4 MiB).
const smallDisk = 4 << 20

// Plan lays the script out on a disk of sectors sectors as sfdisk does,
// taking the GUIDs and disk identifier the script leaves out from ids.
// Errors (*Error, naming the line): a partition that overlaps another or
// does not fit, an unknown type, bad header values.
func Plan(s *Script, sectors uint64, ids *IDs) (*Table, error) {
	label := s.Label
	if label == "" {
		label = "dos"
	}
	l := &layout{grain: 1}
	if s.Grain != 0 {
		l.grain = s.Grain / SectorSize
	} else if sectors*SectorSize > smallDisk {
		l.grain = (1 << 20) / SectorSize
	}
	t := &Table{Label: label, Sectors: sectors}
	if label == "gpt" {
		return planGPT(s, t, l, ids)
	}
	return planDOS(s, t, l, ids)
}

func planGPT(s *Script, t *Table, l *layout, ids *IDs) (*Table, error) {
	t.Entries = gpt.DefaultEntries
	if s.TableLength != 0 {
		t.Entries = s.TableLength
	}
	arr := (uint64(t.Entries)*gpt.EntrySize + SectorSize - 1) / SectorSize
	if t.Sectors < 2*(arr+1)+2 {
		return nil, &Error{Msg: "the disk is too small for a GPT"}
	}
	minFirst, maxLast := 2+arr, t.Sectors-2-arr
	l.first = minFirst
	t.FirstLBA, t.LastLBA = l.up(minFirst), maxLast
	if t.FirstLBA > maxLast {
		t.FirstLBA = minFirst
	}
	if s.FirstLBA != 0 {
		if s.FirstLBA < minFirst || s.FirstLBA > maxLast {
			return nil, &Error{Msg: "first-lba " + strconv.FormatUint(s.FirstLBA, 10) + " is outside " +
				strconv.FormatUint(minFirst, 10) + "-" + strconv.FormatUint(maxLast, 10)}
		}
		t.FirstLBA = s.FirstLBA
	}
	if s.LastLBA != 0 {
		if s.LastLBA < t.FirstLBA || s.LastLBA > maxLast {
			return nil, &Error{Msg: "last-lba " + strconv.FormatUint(s.LastLBA, 10) + " is outside " +
				strconv.FormatUint(t.FirstLBA, 10) + "-" + strconv.FormatUint(maxLast, 10)}
		}
		t.LastLBA = s.LastLBA
	}
	l.first, l.last = t.FirstLBA, t.LastLBA
	l.gptLast, l.alignShort, l.largest, l.inRange = true, true, true, true
	var err error
	if t.DiskGUID, err = labelGUID(s, ids); err != nil {
		return nil, err
	}
	var used []span
	for i := range s.Partitions {
		p := &s.Partitions[i]
		num := p.Number
		if num == 0 {
			for num = 1; slices.ContainsFunc(t.Partitions, func(q Partition) bool { return q.Number == num }); num++ {
			}
		} else if slices.ContainsFunc(t.Partitions, func(q Partition) bool { return q.Number == num }) {
			return nil, lineErr(p.Line, "partition %d defined twice", num)
		}
		if num > int(t.Entries) {
			return nil, lineErr(p.Line, "partition %d: the table has %d entries", num, t.Entries)
		}
		typ := p.Type
		if typ == "" {
			typ = "L"
		}
		tg, ok := parseGPTType(typ)
		if !ok {
			return nil, lineErr(p.Line, "partition %d: unknown GPT partition type %q (see sfdisk --label gpt --list-types)", num, p.Type)
		}
		start, end, err := l.place(p, t.FirstLBA, t.LastLBA, 0, used, num)
		if err != nil {
			return nil, err
		}
		q := Partition{Number: num, Start: start, Sectors: end - start + 1, TypeGUID: tg, Name: p.Name}
		if units, ok := gpt.EncodeName(p.Name); !ok {
			// sfdisk keeps the first 36 code units.
			q.Name = string(utf16Decode(units[:gpt.NameUnits]))
		}
		if q.Attrs, err = parseAttrs(p.Attrs); err != nil {
			return nil, lineErr(p.Line, "partition %d: attrs %q: %v", num, p.Attrs, err)
		}
		if p.UUID != "" {
			if q.UUID, err = gpt.ParseGUID(p.UUID); err != nil {
				return nil, lineErr(p.Line, "partition %d: uuid: %v", num, err)
			}
		} else {
			q.UUID = ids.partitionGUID(num)
		}
		used = append(used, span{start, end})
		t.Partitions = append(t.Partitions, q)
	}
	slices.SortFunc(t.Partitions, func(a, b Partition) int { return a.Number - b.Number })
	return t, nil
}

// labelGUID is the GPT disk GUID: label-id, or one from ids.
func labelGUID(s *Script, ids *IDs) (gpt.GUID, error) {
	if s.LabelID == "" {
		return ids.diskGUID(), nil
	}
	g, err := gpt.ParseGUID(s.LabelID)
	if err != nil {
		return g, &Error{Msg: "label-id: " + err.Error()}
	}
	return g, nil
}

// parseAttrs parses GPT attribute bits as sfdisk's --part-attrs: the
// names of bits 0-2, "GUID:" and a comma-separated list of bits 48-63, or
// bit numbers, apart by blanks or commas.
func parseAttrs(s string) (uint64, error) {
	var bits uint64
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }) {
		switch {
		case tok == "RequiredPartition":
			bits |= gpt.AttrRequiredPartition
		case tok == "NoBlockIOProtocol":
			bits |= gpt.AttrNoBlockIOProtocol
		case tok == "LegacyBIOSBootable":
			bits |= gpt.AttrLegacyBIOSBootable
		default:
			list, guid := strings.CutPrefix(tok, "GUID:")
			for _, n := range strings.Split(list, ",") {
				if n == "" {
					continue
				}
				b, err := strconv.ParseUint(n, 10, 8)
				if err != nil || b > 63 || guid && b < 48 {
					return 0, &Error{Msg: "unknown attribute " + strconv.Quote(n)}
				}
				bits |= 1 << b
			}
		}
	}
	return bits, nil
}
