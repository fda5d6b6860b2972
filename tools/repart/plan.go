package repart

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/tools/fdisk"
)

// Sizes of systemd-repart's layout (repart.c).
const (
	grain          = 4096     // every start and size is a multiple of it
	defaultMinSize = 10 << 20 // a partition without SizeMinBytes=
	hardMinSize    = 4096
	// gptMetadataSize is what --size=auto adds to the partitions: the
	// first MiB and the backup GPT, rounded.
	gptMetadataSize = 1044 << 10
	sectorSize      = 512
	// maxDiskSize is the largest image: a file's size is an int64, and
	// the sums of sizes stay far from overflowing.
	maxDiskSize = 1 << 62
)

// fsMinSize is the smallest filesystem of a type systemd-repart makes
// (resize-fs.h minimal_size_by_fs_name in 252): 0 where it knows none.
func fsMinSize(format string) uint64 {
	switch format {
	case "ext4":
		return 1 << 20
	case "xfs":
		return 14 << 20
	case "btrfs":
		return 256 << 20
	}
	return 0
}

// Planned is a partition of the new disk: its definition, where it lies
// and its identities.
type Planned struct {
	*Partition
	// ContentSize is the smallest size of its filesystem holding what
	// CopyFiles= and MakeDirectories= put in (Minimize=), set by the
	// caller before Plan; 0 when not minimized.
	ContentSize uint64
	// Dropped: it did not fit and had a priority that let it go. It has
	// no entry in the table but counts for identities.
	Dropped bool
	Number  int    // its GPT entry, from 1
	Offset  uint64 // bytes from the disk's start
	Size    uint64 // bytes
	Padding uint64 // bytes after it left free
	UUID    ID128  // its GUID
	Label   string // its GPT name
	Attrs   uint64 // its GPT attribute bits

	identified bool
}

// Identify gives the partitions their GUIDs and labels from seed, which
// do not depend on the layout (a dropped partition counts): a caller
// that needs them before Plan (to make a minimized filesystem with its
// UUID) calls it first, and Plan keeps them.
func Identify(parts []*Planned, seed ID128) {
	if len(parts) == 0 || parts[0].identified {
		return
	}
	partitionUUIDs(parts, seed)
	labels(parts)
	for _, p := range parts {
		p.identified = true
	}
}

// FSUUID is the UUID of the filesystem made in the partition
// (derive_uuid(partition UUID, "file-system-uuid")).
func (p *Planned) FSUUID() ID128 { return deriveID(p.UUID, []byte("file-system-uuid")) }

// VolumeID is a FAT filesystem's volume ID: the first 4 bytes of FSUUID,
// big-endian (what systemd passes as mkfs.vfat -i).
func (p *Planned) VolumeID() uint32 {
	u := p.FSUUID()
	return uint32(u[0])<<24 | uint32(u[1])<<16 | uint32(u[2])<<8 | uint32(u[3])
}

// Layout is a new disk: its size, its GPT and every partition of the
// definitions.
type Layout struct {
	Size  uint64 // bytes
	Table *fdisk.Table
	Parts []*Planned
}

// NewPlanned wraps the definitions for Plan.
func NewPlanned(defs []*Partition) []*Planned {
	parts := make([]*Planned, len(defs))
	for i, d := range defs {
		parts[i] = &Planned{Partition: d}
	}
	return parts
}

// Plan lays out a new disk as systemd-repart --empty=create does: size
// bytes (rounded up to 4096), or with size 0 the sum of the partitions'
// minimums and the GPT (--size=auto); partitions dropped by priority
// while they do not fit; the free space shared by weight
// (context_grow_partitions_on_free_area); identities from seed.
func Plan(parts []*Planned, size uint64, seed ID128) (*Layout, error) {
	if size == 0 {
		size = gptMetadataSize
		for _, p := range parts {
			size += min(p.minWithPadding(), maxDiskSize)
		}
	}
	if size > maxDiskSize {
		return nil, fmt.Errorf("a disk of %d bytes is larger than a file can be (%d)", size, uint64(maxDiskSize))
	}
	size = roundUp(size, grain)
	sectors := size / sectorSize
	// libfdisk's first usable LBA: 2048 beyond 4 MiB, else right after
	// the entry array; the last leaves room for the backup GPT.
	first, last := uint64(2048), sectors-34
	if sectors <= 8192 {
		first = 34
	}
	if sectors < 68 {
		return nil, fmt.Errorf("a disk of %d bytes has no room for a GPT", size)
	}
	start, end := roundUp(first*sectorSize, grain), (last+1)*sectorSize/grain*grain
	var area uint64
	if end > start {
		area = end - start
	}
	if err := fit(parts, area); err != nil {
		return nil, err
	}
	grow(parts, area)
	Identify(parts, seed)
	t := &fdisk.Table{Label: "gpt", Sectors: sectors, DiskGUID: gpt.FromBigEndian(deriveID(seed, []byte("disk-uuid"))),
		FirstLBA: first, LastLBA: last, Entries: 128}
	off, n := start, 0
	for _, p := range parts {
		if p.Dropped {
			continue
		}
		n++
		p.Number, p.Offset = n, off
		off += p.Size + p.Padding
		p.Attrs = attrs(p.Partition)
		t.Partitions = append(t.Partitions, fdisk.Partition{Number: n, Start: p.Offset / sectorSize, Sectors: p.Size / sectorSize,
			TypeGUID: gpt.FromBigEndian(p.Type), UUID: gpt.FromBigEndian(p.UUID), Name: p.Label, Attrs: p.Attrs})
	}
	return &Layout{Size: size, Table: t, Parts: parts}, nil
}

// minSize is partition_min_size: the filesystem's floor (its content's
// size when minimized), at least 4096, and at least SizeMinBytes= or 10
// MiB.
func (p *Planned) minSize() uint64 {
	var d uint64
	switch {
	case p.ContentSize > 0:
		d = roundUp(p.ContentSize, grain)
	case p.Format != "":
		d = max(roundUp(fsMinSize(p.Format), grain), hardMinSize)
	}
	min := uint64(defaultMinSize)
	if p.SizeMin != Unset {
		min = p.SizeMin
	}
	return max(roundUp(min, grain), d, hardMinSize)
}

// maxSize is partition_max_size: SizeMaxBytes= rounded down, never below
// the minimum; unlimited when not given.
func (p *Planned) maxSize() uint64 {
	if p.SizeMax == Unset {
		return Unset
	}
	return max(p.minSize(), p.SizeMax/grain*grain)
}

func (p *Planned) paddingMin() uint64 {
	if p.PaddingMin == Unset {
		return 0
	}
	return p.PaddingMin
}

func (p *Planned) minWithPadding() uint64 {
	return roundUp(min(p.minSize(), maxDiskSize)+min(p.paddingMin(), maxDiskSize), grain)
}

// fit drops partitions while their minimums exceed the free area: all of
// the highest priority above 0 at each step
// (context_drop_or_foreignize_one_priority).
func fit(parts []*Planned, area uint64) error {
	for {
		var need uint64
		prio := int32(0)
		for _, p := range parts {
			if !p.Dropped {
				need += p.minWithPadding()
				prio = max(prio, p.Priority)
			}
		}
		if need <= area {
			return nil
		}
		if prio <= 0 {
			var names []string
			for _, p := range parts {
				if !p.Dropped {
					names = append(names, p.File)
				}
			}
			return fmt.Errorf("cannot fit the partitions (%s) into the disk: they need %d bytes, %d are free", strings.Join(names, ", "), need, area)
		}
		for _, p := range parts {
			if p.Priority >= prio {
				p.Dropped = true
			}
		}
	}
}

// The phases of sharing the free area, in order.
const (
	overcharge  = iota // give its minimum to whoever needs more than its share
	undercharge        // give its maximum to whoever takes less than its share
	distribute         // give everyone else its share
)

// grow shares the free area among the partitions' sizes and paddings by
// weight, as systemd-repart does for a new disk: each phase is run again
// while a pass over the partitions assigns something; sizes are rounded
// down to the grain and kept within bounds; what clamping leaves over goes
// to the first partitions that can still grow.
func grow(parts []*Planned, area uint64) {
	span := area
	var weightSum uint64
	for _, p := range parts {
		if !p.Dropped {
			weightSum += uint64(p.Weight) + uint64(p.PaddingWeight)
			p.Size, p.Padding = Unset, Unset
		}
	}
	charge := func(x, w uint64) {
		span -= min(span, roundUp(x, grain))
		weightSum -= w
	}
	// slot assigns a size or padding still unset, by the phase's rule.
	slot := func(v *uint64, w, lo, hi uint64, phase int) bool {
		if *v != Unset {
			return false
		}
		share := scaleByWeight(span, w, weightSum)
		switch {
		case phase == overcharge && lo > share:
			*v = lo
		case phase == undercharge && hi < share:
			*v = hi
		case phase == distribute:
			*v = min(max(share/grain*grain, lo), hi)
		default:
			return false
		}
		charge(*v, w)
		return phase != distribute
	}
	for phase := overcharge; phase <= distribute; {
		again := false
		for _, p := range parts {
			if p.Dropped {
				continue
			}
			again = slot(&p.Size, uint64(p.Weight), p.minSize(), p.maxSize(), phase) || again
			again = slot(&p.Padding, uint64(p.PaddingWeight), p.paddingMin(), p.PaddingMax, phase) || again
		}
		if !again {
			phase++
		}
	}
	for _, p := range parts {
		if span == 0 {
			break
		}
		if p.Dropped {
			continue
		}
		n := min(p.maxSize(), (p.Size+span)/grain*grain)
		if n > p.Size {
			span -= min(span, n-p.Size)
			p.Size = n
		}
	}
}

// scaleByWeight is value*w/sum without overflow (scale_by_weight): when
// the product overflows, sum is halved (rounding up) and w (rounding
// down) until it does not.
func scaleByWeight(value, w, sum uint64) uint64 {
	if w == 0 {
		return 0
	}
	if w == sum {
		return value
	}
	for {
		hi, lo := bits.Mul64(value, w)
		if hi == 0 {
			return lo / sum
		}
		sum, w = (sum+1)/2, w/2
	}
}

func roundUp(x, to uint64) uint64 { return (x + to - 1) / to * to }
