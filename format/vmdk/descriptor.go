package vmdk

import (
	"fmt"
	"strconv"
	"strings"
)

// Extent is an extent line of a descriptor: `RW 16384 SPARSE "x.vmdk"`,
// `RW 16384 FLAT "x-flat.vmdk" 0`, `RDONLY 100 ZERO`.
type Extent struct {
	Access  string // RW, RDONLY, NOACCESS
	Sectors uint64
	Type    string // FLAT, SPARSE, ZERO (VMFS* are ESXi's)
	File    string
	Offset  uint64 // FLAT: the first sector in File
}

// Descriptor is what the reader needs of a descriptor: its create type,
// whether it has a parent, and its extents in disk order.
type Descriptor struct {
	CreateType string
	ParentCID  string
	Extents    []Extent
}

// maxDescriptor bounds a descriptor's text (and extent count).
const (
	maxDescriptor = 1 << 20
	maxExtents    = 1 << 12
)

// ParseDescriptor parses a descriptor's text (a NUL ends it, in a sparse
// extent's embedded one).
func ParseDescriptor(text []byte) (*Descriptor, error) {
	if i := strings.IndexByte(string(text), 0); i >= 0 {
		text = text[:i]
	}
	if len(text) > maxDescriptor {
		return nil, fmt.Errorf("%w: a descriptor of %d bytes", ErrCorrupt, len(text))
	}
	d := &Descriptor{}
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		switch strings.Fields(line)[0] {
		case "RW", "RDONLY", "NOACCESS":
		default:
			// key = value (the disk's and the DDB's), else nothing
			// this reader needs.
			if k, v, ok := strings.Cut(line, "="); ok {
				v = strings.Trim(strings.TrimSpace(v), `"`)
				switch strings.TrimSpace(k) {
				case "createType":
					d.CreateType = v
				case "parentCID":
					d.ParentCID = v
				}
			}
			continue
		}
		e, err := parseExtent(line)
		if err != nil {
			return nil, err
		}
		if len(d.Extents) == maxExtents {
			return nil, fmt.Errorf("%w: more than %d extents", ErrCorrupt, maxExtents)
		}
		d.Extents = append(d.Extents, e)
	}
	if len(d.Extents) == 0 {
		return nil, fmt.Errorf("%w: a descriptor without extents", ErrCorrupt)
	}
	return d, nil
}

// parseExtent parses one extent line.
func parseExtent(line string) (Extent, error) {
	var e Extent
	f := strings.Fields(line)
	if len(f) < 3 {
		return e, fmt.Errorf("%w: descriptor line %q", ErrCorrupt, line)
	}
	e.Access, e.Type = f[0], f[2]
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || n > maxCapacity {
		return e, fmt.Errorf("%w: extent size in %q", ErrCorrupt, line)
	}
	e.Sectors = n
	if e.Type == "ZERO" {
		return e, nil
	}
	q1 := strings.IndexByte(line, '"')
	q2 := strings.LastIndexByte(line, '"')
	if q1 < 0 || q2 <= q1 {
		return e, fmt.Errorf("%w: extent file name in %q", ErrCorrupt, line)
	}
	e.File = line[q1+1 : q2]
	if rest := strings.Fields(line[q2+1:]); e.Type == "FLAT" && len(rest) > 0 {
		if e.Offset, err = strconv.ParseUint(rest[0], 10, 64); err != nil {
			return e, fmt.Errorf("%w: extent offset in %q", ErrCorrupt, line)
		}
	}
	return e, nil
}
