package squashfstools

import (
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
)

// xattrTable is the xattr table: each distinct set of an inode's xattrs
// once, as key/value records, and an xattr id per set, as mksquashfs 4.5
// writes them (found by reading its images): a value of more than 128
// bytes is stored out of line, before the first set that has it, and
// every set refers to it; a value of more than 8 bytes (a reference's
// size) that an earlier record holds is referred to as well; the rest
// are inline.
type xattrTable struct {
	kv     *metaWriter
	ids    []squashfs.XattrID
	sets   map[string]uint32
	values map[string]squashfs.Ref
	buf    []byte
}

// Sizes of the out-of-line rule.
const (
	xattrInlineMax = 128
	xattrOOLSize   = 8
)

// storable returns the xattrs SquashFS can hold (user., trusted. and
// security. names) and the names of those it cannot.
func storable(xs []archive.Xattr) (keep []archive.Xattr, dropped []string) {
	for _, x := range xs {
		if _, _, ok := squashfs.XattrType(x.Name); ok {
			keep = append(keep, x)
		} else {
			dropped = append(dropped, x.Name)
		}
	}
	return keep, dropped
}

// get returns the xattr id of a set (sorted by name, storable), adding
// it if new; squashfs.InvalidXattr for none.
func (t *xattrTable) get(xs []archive.Xattr) uint32 {
	if len(xs) == 0 || t == nil {
		return squashfs.InvalidXattr
	}
	var key strings.Builder
	for _, x := range xs {
		key.WriteString(x.Name)
		key.WriteByte(0)
		key.WriteString(strconv.Itoa(len(x.Value)))
		key.WriteByte(':')
		key.Write(x.Value)
	}
	if id, ok := t.sets[key.String()]; ok {
		return id
	}
	// Values longer than xattrInlineMax go first, each stored once
	// for the whole table; the keys refer to them.
	for _, x := range xs {
		if _, seen := t.values[string(x.Value)]; len(x.Value) > xattrInlineMax && !seen {
			t.values[string(x.Value)] = t.kv.ref()
			t.buf = squashfs.AppendXattrValue(t.buf[:0], x.Value)
			t.kv.write(t.buf)
		}
	}
	id := squashfs.XattrID{Xattr: t.kv.ref(), Count: uint32(len(xs))}
	for _, x := range xs {
		typ, name, _ := squashfs.XattrType(x.Name)
		// The size Linux's listxattr needs: each full name and its
		// NUL, and the values.
		id.Size += uint32(len(x.Name) + 1 + len(x.Value))
		// A value stored before (here, or inline in an earlier set)
		// is referred to, if longer than the reference.
		ool, dup := t.values[string(x.Value)]
		dup = dup && len(x.Value) > xattrOOLSize
		if dup {
			typ |= squashfs.XattrValueOOL
		}
		t.buf = squashfs.XattrKey{Type: typ, Name: []byte(name)}.Append(t.buf[:0])
		if dup {
			t.buf = squashfs.AppendXattrOOL(t.buf, ool)
			t.kv.write(t.buf)
			continue
		}
		t.kv.write(t.buf)
		t.values[string(x.Value)] = t.kv.ref()
		t.buf = squashfs.AppendXattrValue(t.buf[:0], x.Value)
		t.kv.write(t.buf)
	}
	n := uint32(len(t.ids))
	t.ids = append(t.ids, id)
	t.sets[key.String()] = n
	return n
}
