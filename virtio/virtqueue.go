package virtio

import (
	"encoding/binary"
	"fmt"
)

// virtqueue is the device's view of one split virtqueue (§2.7): the three
// areas as slices aliasing guest memory, the device's free-running
// indexes, and one chain record per descriptor head.
type virtqueue struct {
	size     int
	indirect bool   // VIRTIO_F_INDIRECT_DESC negotiated
	desc     []byte // descriptor table, DescTableSize(size) bytes
	avail    []byte // available ring, AvailRingSize(size) bytes
	used     []byte // used ring, UsedRingSize(size) bytes

	lastAvail uint16 // next available ring index to take; guarded by Device.mu
	usedIdx   uint16 // next used ring index to fill; guarded by Device.usedMu

	// busy marks descriptors that belong to a chain the device has taken
	// and not yet returned; guarded by Device.mu. A chain that reaches a
	// busy descriptor either loops or shares a descriptor with a request
	// in flight: both are driver errors.
	busy   []bool
	chains []chain // indexed by head descriptor; chains[h] is owned by whoever holds head h
}

// chain is a descriptor chain as the device takes it (§2.7.5, §2.7.13):
// the buffers in order, split into the device-readable part and the
// device-writable part that follows it (§2.7.4.2).
type chain struct {
	head     uint16
	descs    []uint16 // every descriptor of the chain, to release them
	readable [][]byte
	writable [][]byte
	rlen     uint64 // total bytes of readable
	wlen     uint64 // total bytes of writable

	blk blkRequest // the request decoded from the buffers
}

func newVirtqueue(mem Memory, cfg QueueConfig, feat Features) (*virtqueue, error) {
	if err := CheckQueueSize(cfg.Size); err != nil {
		return nil, err
	}
	if cfg.Desc%DescAlign != 0 || cfg.Avail%AvailAlign != 0 || cfg.Used%UsedAlign != 0 {
		return nil, fmt.Errorf("virtio: queue areas %#x/%#x/%#x misaligned", cfg.Desc, cfg.Avail, cfg.Used)
	}
	q := &virtqueue{
		size:      cfg.Size,
		indirect:  feat.Has(FIndirectDesc),
		desc:      mem.Bytes(cfg.Desc, DescTableSize(cfg.Size)),
		avail:     mem.Bytes(cfg.Avail, AvailRingSize(cfg.Size)),
		used:      mem.Bytes(cfg.Used, UsedRingSize(cfg.Size)),
		lastAvail: cfg.StartIndex,
		usedIdx:   cfg.StartIndex,
		busy:      make([]bool, cfg.Size),
		chains:    make([]chain, cfg.Size),
	}
	if q.desc == nil || q.avail == nil || q.used == nil {
		return nil, fmt.Errorf("virtio: queue areas %#x/%#x/%#x lie outside memory", cfg.Desc, cfg.Avail, cfg.Used)
	}
	binary.LittleEndian.PutUint16(q.used[UsedIdxOff:], q.usedIdx)
	return q, nil
}

// pop takes the next available chain, if any (§2.7.13). It returns nil
// when the ring is empty, and an error when what the driver wrote is
// malformed. The caller holds Device.mu.
func (q *virtqueue) pop(mem Memory) (*chain, error) {
	idx := binary.LittleEndian.Uint16(q.avail[AvailIdxOff:])
	pending := idx - q.lastAvail // free-running: wraps at 2^16 (§2.7.6)
	if pending == 0 {
		return nil, nil
	}
	if int(pending) > q.size {
		return nil, fmt.Errorf("virtio: avail idx %d is %d ahead of the device's %d, more than the queue size %d",
			idx, pending, q.lastAvail, q.size)
	}
	head := binary.LittleEndian.Uint16(q.avail[AvailSlotOff(q.size, q.lastAvail):])
	if int(head) >= q.size {
		return nil, fmt.Errorf("virtio: avail ring slot %d names descriptor %d of %d", q.lastAvail, head, q.size)
	}
	c := &q.chains[head]
	if err := readChain(mem, q.desc, q.size, head, q.busy, q.indirect, c); err != nil {
		return nil, err
	}
	q.lastAvail++
	return c, nil
}

// readChain walks the chain from head in the descriptor table of a queue
// of size entries and fills c with its buffers, marking its descriptors
// busy. On error no descriptor is left marked. It checks every rule the
// driver must follow (§2.7.5.2, §2.7.4.2): indexes below size, buffers in
// memory, writable buffers after readable ones, and no descriptor visited
// twice, which bounds the walk by size. With indirect (VIRTIO_F_INDIRECT_DESC
// negotiated) the chain may end in a descriptor naming a table of further
// descriptors (§2.7.5.3).
func readChain(mem Memory, table []byte, size int, head uint16, busy []bool, indirect bool, c *chain) (err error) {
	// c is the record of head, which a worker may still be using if the
	// driver posted head twice: check before touching it.
	if int(head) >= size || busy[head] {
		return fmt.Errorf("virtio: chain %d: head out of range or already in use", head)
	}
	c.head = head
	c.descs = c.descs[:0]
	c.readable = c.readable[:0]
	c.writable = c.writable[:0]
	c.rlen, c.wlen = 0, 0
	defer func() {
		if err != nil {
			for _, i := range c.descs {
				busy[i] = false
			}
			c.descs = c.descs[:0]
		}
	}()
	i := head
	for {
		if int(i) >= size {
			return fmt.Errorf("virtio: chain %d: next descriptor %d beyond queue size %d", head, i, size)
		}
		if busy[i] {
			return fmt.Errorf("virtio: chain %d: descriptor %d already in use (loop or shared descriptor)", head, i)
		}
		busy[i] = true
		c.descs = append(c.descs, i)
		d := GetDesc(table, i)
		if d.Flags&DescFIndirect != 0 {
			if !indirect {
				return fmt.Errorf("virtio: chain %d: descriptor %d is INDIRECT, which was not negotiated", head, i)
			}
			return c.readIndirect(mem, d)
		}
		if err := c.add(mem, d); err != nil {
			return err
		}
		if d.Flags&DescFNext == 0 {
			return nil
		}
		i = d.Next
	}
}

// maxIndirect bounds an indirect table. The spec sets no limit of its own
// (§2.7.5.3); this one keeps a walk short and matches the largest queue.
const maxIndirect = MaxQueueSize

// readIndirect adds the buffers of the indirect table d names (§2.7.5.3.1,
// §2.7.5.3.2): it must end the chain (no NEXT), hold whole descriptors,
// none of them INDIRECT, and its chain starts at entry 0 and stays inside
// it. A walk longer than the table must have looped.
func (c *chain) readIndirect(mem Memory, d Desc) error {
	if d.Flags&DescFNext != 0 {
		return fmt.Errorf("virtio: chain %d: INDIRECT descriptor with NEXT", c.head)
	}
	if d.Len == 0 || d.Len%DescSize != 0 || d.Len/DescSize > maxIndirect {
		return fmt.Errorf("virtio: chain %d: indirect table of %d bytes", c.head, d.Len)
	}
	tbl := mem.Bytes(d.Addr, int(d.Len))
	if tbl == nil {
		return fmt.Errorf("virtio: chain %d: indirect table %#x+%d outside memory", c.head, d.Addr, d.Len)
	}
	n := int(d.Len / DescSize)
	j := uint16(0)
	for steps := 0; ; steps++ {
		if steps == n {
			return fmt.Errorf("virtio: chain %d: loop in indirect table of %d", c.head, n)
		}
		e := GetDesc(tbl, j)
		if e.Flags&DescFIndirect != 0 {
			return fmt.Errorf("virtio: chain %d: INDIRECT inside an indirect table", c.head)
		}
		if err := c.add(mem, e); err != nil {
			return err
		}
		if e.Flags&DescFNext == 0 {
			return nil
		}
		if int(e.Next) >= n {
			return fmt.Errorf("virtio: chain %d: indirect next %d beyond table of %d", c.head, e.Next, n)
		}
		j = e.Next
	}
}

// add appends the buffer d describes to c.
func (c *chain) add(mem Memory, d Desc) error {
	b := mem.Bytes(d.Addr, int(d.Len))
	if b == nil {
		return fmt.Errorf("virtio: chain %d: buffer %#x+%d outside memory", c.head, d.Addr, d.Len)
	}
	if d.Flags&DescFWrite != 0 {
		c.writable = append(c.writable, b)
		c.wlen += uint64(d.Len)
		return nil
	}
	if len(c.writable) > 0 {
		return fmt.Errorf("virtio: chain %d: readable buffer after a writable one", c.head)
	}
	c.readable = append(c.readable, b)
	c.rlen += uint64(d.Len)
	return nil
}

// release returns c's descriptors to the driver's side of the ledger. The
// caller holds Device.mu.
func (q *virtqueue) release(c *chain) {
	for _, i := range c.descs {
		q.busy[i] = false
	}
}

// push publishes a used element for head with len bytes written
// (§2.7.8): the element first, then the index. The caller holds
// Device.usedMu.
func (q *virtqueue) push(head uint16, written uint32) {
	off := UsedSlotOff(q.size, q.usedIdx)
	binary.LittleEndian.PutUint32(q.used[off:], uint32(head))
	binary.LittleEndian.PutUint32(q.used[off+4:], written)
	q.usedIdx++
	binary.LittleEndian.PutUint16(q.used[UsedIdxOff:], q.usedIdx)
}
