package virtioblk

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// inline names a data buffer that lives in the tag itself rather than in
// the caller's segments.
type inline int

const (
	inlineNone inline = iota
	inlineDWZ         // one discard/write-zeroes segment, device-readable
	inlineID          // the 20-byte GET_ID answer, device-writable
)

// submit sends one request and waits for it: a chain of header, segs (or
// the inline buffer), and status (§5.2.6). deviceWrites says the data goes
// into segs. dwz is the inline discard segment (sector, num_sectors,
// flags); out receives the inline GET_ID answer. It returns the status
// byte the device wrote, or an errno when the request never completed.
func (d *Disk) submit(typ uint32, sector uint64, segs []mm.Seg, deviceWrites bool, in inline, dwz [3]uint64, out []byte) (uint8, error) {
	ndesc := 2 + len(segs)
	if in != inlineNone {
		ndesc++
	}
	if ndesc > d.maxSegs+3 {
		// rw splits requests to maxSegs; anything longer is a bug here.
		return 0, abi.Errorf(abi.EINVAL, "virtioblk: chain of %d descriptors above %d", ndesc, d.maxSegs+3)
	}
	ringDescs := ndesc // descriptors the request takes from the ring's table
	if d.indirect {
		ringDescs = 1
	}
	d.mu.Lock()
	for !d.closed && !d.broken.Load() && (len(d.freeTags) == 0 || len(d.freeDesc) < ringDescs) {
		d.cond.Wait()
	}
	if d.closed {
		d.mu.Unlock()
		return 0, abi.Errorf(abi.ENXIO, "virtioblk: disk closed")
	}
	if d.broken.Load() {
		d.mu.Unlock()
		return 0, abi.Errorf(abi.EIO, "virtioblk: device needs reset")
	}
	ti := d.freeTags[len(d.freeTags)-1]
	d.freeTags = d.freeTags[:len(d.freeTags)-1]
	t := &d.tags[ti]
	t.failed, t.written = false, 0
	d.active++

	buf := d.arena.Bytes(t.buf, tagSize)
	virtio.PutBlkHeader(buf[tagHeaderOff:], typ, sector)
	buf[tagStatusOff] = 0xff // a status the device must overwrite
	if in == inlineDWZ {
		virtio.PutBlkDiscardSeg(buf[tagDWZOff:], dwz[0], uint32(dwz[1]), uint32(dwz[2]))
	}

	// The chain goes into the tag's indirect table (entries 0..n-1, whose
	// indexes t.ids holds once for all) or straight into the ring's table.
	table := d.desc
	ids := t.ids[:ndesc]
	if d.indirect {
		table = d.arena.Bytes(t.table, ndesc*virtio.DescSize)
	} else {
		for k := range ids {
			ids[k] = d.popDesc()
		}
	}
	k := 0
	put := func(addr uint64, n uint32, flags uint16) {
		var next uint16
		if k+1 < ndesc {
			flags |= virtio.DescFNext
			next = ids[k+1]
		}
		virtio.PutDesc(table, ids[k], virtio.Desc{Addr: addr, Len: n, Flags: flags, Next: next})
		k++
	}
	put(uint64(t.buf)+tagHeaderOff, virtio.BlkHeaderSize, 0)
	var dataFlags uint16
	if deviceWrites {
		dataFlags = virtio.DescFWrite
	}
	for _, s := range segs {
		put(uint64(s.Addr), s.Len, dataFlags)
	}
	switch in {
	case inlineDWZ:
		put(uint64(t.buf)+tagDWZOff, virtio.BlkDiscardSegSize, 0)
	case inlineID:
		put(uint64(t.buf)+tagIDOff, virtio.BlkIDBytes, virtio.DescFWrite)
	}
	put(uint64(t.buf)+tagStatusOff, 1, virtio.DescFWrite)
	head := ids[0]
	if d.indirect {
		// §2.7.5.3.1: one ring descriptor naming the table.
		head = d.popDesc()
		virtio.PutDesc(d.desc, head, virtio.Desc{Addr: uint64(t.table), Len: uint32(ndesc * virtio.DescSize), Flags: virtio.DescFIndirect})
	}
	t.head = head
	d.headTag[head] = ti

	d.usedMu.Lock()
	t.pending = true
	d.usedMu.Unlock()

	// §2.7.13: the head into the next ring slot, then the index, then the
	// kick. mu stays held across Notify, where the device reads the ring.
	binary.LittleEndian.PutUint16(d.avail[virtio.AvailSlotOff(d.size, d.availIdx):], head)
	d.availIdx++
	binary.LittleEndian.PutUint16(d.avail[virtio.AvailIdxOff:], d.availIdx)
	d.dev.Notify(0)
	d.mu.Unlock()

	<-t.done

	status := buf[tagStatusOff]
	if out != nil && in == inlineID {
		copy(out, buf[tagIDOff:tagIDOff+virtio.BlkIDBytes])
	}
	failed := t.failed

	d.mu.Lock()
	d.pushChain(t.head)
	d.headTag[t.head] = -1
	d.freeTags = append(d.freeTags, ti)
	d.active--
	d.cond.Broadcast()
	d.mu.Unlock()
	if failed {
		return 0, abi.Errorf(abi.EIO, "virtioblk: device needs reset")
	}
	return status, nil
}

// popDesc takes a free descriptor; the caller holds mu and has checked
// there are enough.
func (d *Disk) popDesc() uint16 {
	i := d.freeDesc[len(d.freeDesc)-1]
	d.freeDesc = d.freeDesc[:len(d.freeDesc)-1]
	return i
}

// pushChain frees the chain from head by following our own links; the
// caller holds mu. The device never writes the descriptor table.
func (d *Disk) pushChain(head uint16) {
	i := head
	for n := 0; n < d.size; n++ {
		d.freeDesc = append(d.freeDesc, i)
		desc := virtio.GetDesc(d.desc, i)
		if desc.Flags&virtio.DescFNext == 0 {
			return
		}
		i = desc.Next
	}
}

// interrupt is the device's interrupt line. For used buffers it walks the
// used ring from where it last stopped (§2.7.14) and wakes each request's
// submitter; the device holds the used ring stable meanwhile. A config
// change from this device only ever means DEVICE_NEEDS_RESET: nothing
// more will complete, so every pending request fails.
func (d *Disk) interrupt(cause virtio.Interrupt, _ int) {
	d.usedMu.Lock()
	defer d.usedMu.Unlock()
	switch cause {
	case virtio.InterruptUsedBuffer:
		idx := binary.LittleEndian.Uint16(d.used[virtio.UsedIdxOff:])
		for ; d.lastUsed != idx; d.lastUsed++ {
			off := virtio.UsedSlotOff(d.size, d.lastUsed)
			id := binary.LittleEndian.Uint32(d.used[off:])
			n := binary.LittleEndian.Uint32(d.used[off+4:])
			if id >= uint32(d.size) || d.headTag[id] < 0 {
				continue // not ours: a device bug; ignore rather than crash
			}
			t := &d.tags[d.headTag[id]]
			if !t.pending {
				continue
			}
			t.pending = false
			t.written = n
			t.done <- struct{}{}
		}
	case virtio.InterruptConfigChange:
		d.broken.Store(true)
		for i := range d.tags {
			t := &d.tags[i]
			if t.pending {
				t.pending = false
				t.failed = true
				t.done <- struct{}{}
			}
		}
	}
}
