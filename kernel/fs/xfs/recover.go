package xfs

import (
	"sort"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Log recovery in memory (xfs_log_recover.c, xfs_buf_item_recover.c,
// xfs_inode_item_recover.c), as Linux's mount replays a dirty log, with
// nothing written: the records from the tail to the head are read, their
// committed transactions' buffer and inode items replayed in order into
// an overlay of 512-byte sectors the driver then reads through. The
// passes are Linux's: the first collects cancelled buffers (freed
// metadata whose older images must not come back), the second replays
// each transaction's items (buffers, then inodes, then inode buffers'
// unlinked pointers, then cancellations). Buffers are replayed in log
// order whatever LSN the block on disk holds (every change since the
// tail is in the log, and freed blocks have their cancel records);
// inodes newer on disk than the item are passed over, as Linux does.
// Replayed v5 blocks get their checksums computed again, as the
// buffers' write verifiers would.
//
// Intents left without their done items are settled as finishIntents
// says: extent frees counted, reverse-mapping and reference count
// updates passed over, file mapping updates kept to be applied to their
// inodes' extent lists as they are read (bmaps), attribute changes and
// range exchanges refused (EOPNOTSUPP).
// Quota items and buffers are passed over, as a mount without quota
// options passes them over.

// overlayDev is the device with the replayed sectors over it.
type overlayDev struct {
	vfs.BlockDevice
	bbs map[int64]*[xfs.BBSize]byte
	// intents is how many unfinished intents the replay settled, and
	// freed the blocks their extent frees give back (finishIntents).
	intents int
	freed   uint64
	// bmaps are the unfinished file mapping updates (BUIs) by inode,
	// in log order, which iget applies to the forks it reads.
	bmaps map[uint64][]xfs.MapExtent
}

// ReadAt reads the device, then the replayed sectors over what it read.
func (o *overlayDev) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.BlockDevice.ReadAt(p, off)
	if len(o.bbs) == 0 {
		return n, err
	}
	for bb := off / xfs.BBSize; bb*xfs.BBSize < off+int64(n); bb++ {
		s, ok := o.bbs[bb]
		if !ok {
			continue
		}
		lo, hi := max(bb*xfs.BBSize, off), min((bb+1)*xfs.BBSize, off+int64(n))
		copy(p[lo-off:hi-off], s[lo-bb*xfs.BBSize:hi-bb*xfs.BBSize])
	}
	return n, err
}

// write stores b at byte off (a multiple of BBSize) over the device.
func (o *overlayDev) write(b []byte, off int64) {
	for i := 0; i < len(b); i += xfs.BBSize {
		s := new([xfs.BBSize]byte)
		copy(s[:], b[i:])
		o.bbs[off/xfs.BBSize+int64(i/xfs.BBSize)] = s
	}
}

// rtrans is a transaction being read from the log (struct
// xlog_recover): its items' regions.
type rtrans struct {
	lsn   uint64
	hdr   bool
	items []*ritem
}

// ritem is one item (struct xlog_recover_item): total regions, those read.
type ritem struct {
	total   int
	regions [][]byte
}

// maxRecoverBytes bounds the records' data recovery keeps in memory
// (each record is read once: no more than the log's size in any case).
const maxRecoverBytes = 1 << 30

// recover replays the dirty log st found, returning the overlay.
func (f *fsys) recover(st logState) (*overlayDev, error) {
	n := st.n
	readBBs := func(blk, count int64) ([]byte, error) {
		b := make([]byte, count*xfs.BBSize)
		for i := int64(0); i < count; {
			at := (blk + i) % n
			run := min(count-i, n-at)
			if err := f.readMeta(b[i*xfs.BBSize:(i+run)*xfs.BBSize], st.start+at*xfs.BBSize, "log"); err != nil {
				return nil, err
			}
			i += run
		}
		return b, nil
	}
	trans := map[uint32]*rtrans{}
	var committed []*rtrans
	kept := int64(0)
	for blk, steps := st.tail, int64(0); blk != st.head; steps++ {
		if steps > n {
			return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: records from the tail never reach the head")
		}
		hb, err := readBBs(blk, 1)
		if err != nil {
			return nil, err
		}
		h, ok := xfs.DecodeLogRecHeader(hb)
		if !ok {
			return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: no record header at block %d", blk)
		}
		// xlog_valid_rec_header: a record holds 256 KiB at the most.
		hblks, dblks := h.HeaderBBs(), (int64(h.Len)+xfs.BBSize-1)/xfs.BBSize
		if h.Len == 0 || h.Len > 256<<10 || hblks+dblks > n || hblks > 8 {
			return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: record at block %d of %d+%d blocks", blk, hblks, dblks)
		}
		hdrs, err := readBBs(blk, hblks)
		if err != nil {
			return nil, err
		}
		data, err := readBBs(blk+hblks, dblks)
		if err != nil {
			return nil, err
		}
		if kept += int64(len(data)); kept > maxRecoverBytes {
			return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: more than %d bytes of records", int64(maxRecoverBytes))
		}
		// Each data BB's first word is in the headers' cycle data
		// (xlog_unpack_data): the first header's from byte 44, the
		// extension headers' from byte 4.
		for i := int64(0); i < dblks; i++ {
			j, k := i/xfs.LogCycleDataPerHdr, i%xfs.LogCycleDataPerHdr
			src := hdrs[44+4*k:]
			if j > 0 {
				src = hdrs[j*xfs.BBSize+4+4*k:]
			}
			copy(data[i*xfs.BBSize:i*xfs.BBSize+4], src[:4])
		}
		ops, err := xfs.DecodeLogOps(data[:h.Len], int(h.NumLogOps))
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			if op.ClientID != xfs.LogClientTrans && op.ClientID != xfs.LogClientLog {
				continue
			}
			if op.Flags&xfs.LogStartTrans != 0 {
				trans[op.Tid] = &rtrans{lsn: h.Lsn}
				continue
			}
			t := trans[op.Tid]
			if t == nil {
				continue // begun before the tail
			}
			switch op.Flags &^ xfs.LogEndTrans {
			case xfs.LogWasContTrans:
				if len(t.items) == 0 {
					return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: transaction %x continued before its header", op.Tid)
				}
				it := t.items[len(t.items)-1]
				if len(it.regions) == 0 {
					return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: transaction %x continues no region", op.Tid)
				}
				it.regions[len(it.regions)-1] = append(it.regions[len(it.regions)-1], op.Data...)
			case 0, xfs.LogContinueTrans:
				if err := t.add(op.Data); err != nil {
					return nil, err
				}
			case xfs.LogCommitTrans:
				committed = append(committed, t)
				delete(trans, op.Tid)
			default:
				delete(trans, op.Tid) // unmount records, damage
			}
		}
		blk = (blk + hblks + dblks) % n
	}
	return f.replay(committed)
}

// add appends a region to the transaction (xlog_recover_add_to_trans):
// the first is its header, then items' regions, a new item when the
// last one has all its regions.
func (t *rtrans) add(d []byte) error {
	if len(d) == 0 {
		return nil
	}
	if !t.hdr {
		if len(d) < 4 || uint32(d[0])|uint32(d[1])<<8|uint32(d[2])<<16|uint32(d[3])<<24 != xfs.TransHeaderMagic {
			return abi.Errorf(abi.EUCLEAN, "xfs: log: transaction without its header")
		}
		t.hdr = true
		return nil
	}
	var it *ritem
	if k := len(t.items); k > 0 && len(t.items[k-1].regions) < t.items[k-1].total {
		it = t.items[k-1]
	} else {
		total := xfs.ItemSize(d)
		if total == 0 || total > xfs.MaxRegionsInItem {
			return abi.Errorf(abi.EUCLEAN, "xfs: log: item of %d regions", total)
		}
		it = &ritem{total: total}
		t.items = append(t.items, it)
	}
	it.regions = append(it.regions, append([]byte(nil), d...))
	return nil
}

// intentDone is each intent item type's done item type.
var intentDone = map[uint16]uint16{xfs.LiEFI: xfs.LiEFD, xfs.LiRUI: xfs.LiRUI + 1, xfs.LiCUI: xfs.LiCUI + 1,
	xfs.LiBUI: xfs.LiBUI + 1, xfs.LiATTRI: xfs.LiATTRI + 1, xfs.LiXMI: xfs.LiXMI + 1,
	xfs.LiEFIRT: xfs.LiEFIRT + 1, xfs.LiRUIRT: xfs.LiRUIRT + 1, xfs.LiCUIRT: xfs.LiCUIRT + 1}

// replay runs the two passes over the committed transactions.
func (f *fsys) replay(committed []*rtrans) (*overlayDev, error) {
	o := &overlayDev{BlockDevice: f.dev, bbs: map[int64]*[xfs.BBSize]byte{}}
	isDone := map[uint16]bool{}
	for _, d := range intentDone {
		isDone[d] = true
	}
	// Pass 1: cancelled buffers, counted; intents and their done items.
	cancelled := map[int64]int{}
	// open holds the intents by id: their format regions and the
	// order they were logged in, which Linux finishes them in.
	open := map[uint64]openIntent{}
	for _, t := range committed {
		for _, it := range t.items {
			if len(it.regions) != it.total {
				return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: item of %d regions has %d", it.total, len(it.regions))
			}
			r := it.regions[0]
			typ := xfs.ItemType(r)
			switch {
			case typ == xfs.LiBuf:
				b, err := xfs.DecodeBufLogFormat(r)
				if err != nil {
					return nil, err
				}
				if b.Flags&xfs.BlfCancel != 0 {
					cancelled[b.Blkno]++
				}
			case intentDone[typ] != 0 && len(r) >= 16:
				open[le64(r[8:])] = openIntent{len(open), r}
			case isDone[typ] && len(r) >= 16:
				delete(open, le64(r[8:]))
			case typ == xfs.LiInode, typ == xfs.LiIcreate:
			case typ == xfs.LiDquot, typ == xfs.LiQuotaOff:
				// Quota items are replayed only for a mount with
				// quota options (xlog_recover_dquot_commit_pass2:
				// m_qflags 0), which this driver never has.
			default:
				return nil, abi.Errorf(abi.EOPNOTSUPP, "xfs: log: item type 0x%x is not replayed by this kernel: mount with -o norecovery", typ)
			}
		}
	}
	if err := f.finishIntents(o, open); err != nil {
		return nil, err
	}
	// Pass 2, each transaction's items in Linux's order
	// (xlog_recover_reorder_trans).
	for _, t := range committed {
		rank := func(it *ritem) int {
			r := it.regions[0]
			switch xfs.ItemType(r) {
			case xfs.LiIcreate:
				return 0
			case xfs.LiBuf:
			default:
				return 1
			}
			b, _ := xfs.DecodeBufLogFormat(r)
			switch {
			case b.Flags&xfs.BlfCancel != 0:
				return 3
			case b.Flags&xfs.BlfInodeBuf != 0:
				return 2
			}
			return 0
		}
		items := append([]*ritem(nil), t.items...)
		sort.SliceStable(items, func(i, j int) bool { return rank(items[i]) < rank(items[j]) })
		for _, it := range items {
			var err error
			switch xfs.ItemType(it.regions[0]) {
			case xfs.LiBuf:
				err = f.replayBuf(o, it, cancelled)
			case xfs.LiInode:
				err = f.replayInode(o, it, t.lsn, cancelled)
			case xfs.LiIcreate:
				err = f.replayIcreate(o, it, cancelled)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func le64(p []byte) uint64 {
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

// replayBuf replays a buffer item (xlog_recover_buf_commit_pass2): its
// logged chunks over the buffer, or only the inodes' unlinked pointers
// of an inode buffer; a cancelled buffer and a quota buffer are passed
// over.
func (f *fsys) replayBuf(o *overlayDev, it *ritem, cancelled map[int64]int) error {
	b, err := xfs.DecodeBufLogFormat(it.regions[0])
	if err != nil {
		return err
	}
	if c := cancelled[b.Blkno]; c > 0 {
		if b.Flags&xfs.BlfCancel != 0 {
			cancelled[b.Blkno] = c - 1
		}
		return nil
	}
	if b.Flags&xfs.BlfDquotBuf != 0 {
		return nil // quota buffers: a mount without quota leaves them (xlog_recover_do_dquot_buffer)
	}
	if b.Len == 0 || b.Len > 1024 {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: buffer of %d blocks", b.Len)
	}
	off := b.Blkno * xfs.BBSize
	buf := make([]byte, b.Len*xfs.BBSize)
	if err := readOverlay(o, f, buf, off); err != nil {
		return err
	}
	k := 1
	var bad error
	b.Runs(func(first, nchunks int) {
		if bad != nil {
			return
		}
		if k >= len(it.regions) {
			bad = abi.Errorf(abi.EUCLEAN, "xfs: log: buffer at %d: more runs than regions", b.Blkno)
			return
		}
		r := it.regions[k]
		k++
		at := first * xfs.BlfChunk
		if at >= len(buf) {
			bad = abi.Errorf(abi.EUCLEAN, "xfs: log: buffer at %d: chunk %d beyond it", b.Blkno, first)
			return
		}
		end := min(at+nchunks*xfs.BlfChunk, len(buf), at+len(r))
		if b.Flags&xfs.BlfInodeBuf == 0 {
			copy(buf[at:end], r)
			return
		}
		// Inode buffers: only di_next_unlinked of each inode
		// (xlog_recover_do_inode_buffer).
		isz := int(f.sb.InodeSize)
		for ino := 0; ino < len(buf); ino += isz {
			p := ino + 96
			if p >= at && p+4 <= end {
				copy(buf[p:p+4], r[p-at:p-at+4])
			}
		}
	})
	if bad != nil {
		return bad
	}
	if f.crc {
		f.fixChecksums(buf)
	}
	o.write(buf, off)
	return nil
}

// readOverlay reads len(p) bytes at off through the overlay, checked
// against the device.
func readOverlay(o *overlayDev, f *fsys, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > f.dev.Size() {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: item at %d+%d beyond the device", off, len(p))
	}
	if _, err := o.ReadAt(p, off); err != nil {
		return abi.Errorf(abi.EIO, "xfs: log recovery: reading %d: %v", off, err)
	}
	return nil
}

// fixChecksums computes again the checksums of the v5 structures a
// replayed buffer holds, by their magic (the write verifiers'
// xfs_update_cksum): those the driver reads or sums.
func (f *fsys) fixChecksums(b []byte) {
	put := func(p []byte, off int) {
		if off+4 <= len(p) {
			c := xfs.Checksum(p, off)
			p[off], p[off+1], p[off+2], p[off+3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
		}
	}
	if len(b) < 16 {
		return
	}
	sect := min(len(b), int(f.sb.SectSize))
	switch be32(b) {
	case xfs.SuperMagic:
		put(b[:sect], xfs.SuperCRCOff)
		return
	case xfs.AgfMagic:
		put(b[:sect], xfs.AgfCRCOff)
		return
	case xfs.AgiMagic:
		put(b[:sect], xfs.AgiCRCOff)
		return
	case xfs.Dir3DataMagic, xfs.Dir3BlockMagic:
		put(b, xfs.Dir3BlkCRCOff)
		return
	case xfs.BmapCRCMagic:
		put(b, xfs.LBlockCRCOff)
		return
	case xfs.AttrRmtMagic:
		for i := 0; i+int(f.bsize) <= len(b); i += int(f.bsize) {
			put(b[i:i+int(f.bsize)], xfs.RemoteCRCOff)
		}
		return
	case xfs.SymlinkMagic:
		put(b, xfs.RemoteCRCOff)
		return
	}
	switch uint16(b[8])<<8 | uint16(b[9]) {
	case xfs.Dir3Leaf1Magic, xfs.Dir3LeafNMagic, xfs.Da3NodeMagic, xfs.Attr3LeafMagic:
		put(b, xfs.Da3CRCOff)
		return
	}
	if uint16(b[0])<<8|uint16(b[1]) == xfs.DinodeMagic {
		isz := int(f.sb.InodeSize)
		for i := 0; i+isz <= len(b); i += isz {
			if uint16(b[i])<<8|uint16(b[i+1]) == xfs.DinodeMagic {
				put(b[i:i+isz], xfs.DinodeCRCOff)
			}
		}
	}
}

func be32(p []byte) uint32 {
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
}

// replayInode replays an inode item (xlog_recover_inode_commit_pass2):
// the logged core over the inode, then the logged forks, unless its
// buffer is cancelled or (v3) the inode on disk is newer.
func (f *fsys) replayInode(o *overlayDev, it *ritem, lsn uint64, cancelled map[int64]int) error {
	in, err := xfs.DecodeInodeLogFormat(it.regions[0])
	if err != nil {
		return err
	}
	if cancelled[in.Blkno] > 0 {
		return nil
	}
	if len(it.regions) < 2 {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: inode %d item without its core", in.Ino)
	}
	isz := int(f.sb.InodeSize)
	off := in.Blkno*xfs.BBSize + int64(in.Boffset)
	if in.Boffset+isz > in.Len*xfs.BBSize {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: inode %d at %d beyond its buffer of %d blocks", in.Ino, in.Boffset, in.Len)
	}
	// The inode in whole sectors, as the overlay keeps them.
	lo := off / xfs.BBSize * xfs.BBSize
	hi := (off + int64(isz) + xfs.BBSize - 1) / xfs.BBSize * xfs.BBSize
	buf := make([]byte, hi-lo)
	if err := readOverlay(o, f, buf, lo); err != nil {
		return err
	}
	dip := buf[off-lo : off-lo+int64(isz)]
	if uint16(dip[0])<<8|uint16(dip[1]) != xfs.DinodeMagic {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: inode %d: bad magic on disk", in.Ino)
	}
	if f.crc && len(dip) >= xfs.DinodeCoreV3 && dip[4] >= 3 {
		if dl := uint64(be32(dip[112:]))<<32 | uint64(be32(dip[116:])); dl != 0 && dl != ^uint64(0) && dl >= lsn {
			return nil // the disk has a newer inode
		}
	}
	if err := xfs.LogDinodeToDisk(it.regions[1], dip, lsn); err != nil {
		return err
	}
	core := xfs.DinodeCoreV2
	if dip[4] >= 3 {
		core = xfs.DinodeCoreV3
	}
	forkoff := int(dip[82]) * 8
	if core+forkoff > isz {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: inode %d: fork offset %d", in.Ino, forkoff)
	}
	dsize := isz - core
	if forkoff != 0 {
		dsize = forkoff
	}
	bmbtHdr := xfs.LBlockSize
	if f.crc {
		bmbtHdr = xfs.LBlockCRCSize
	}
	k := 2
	fork := func(data, ext, broot uint32, room []byte) error {
		if in.Fields&(data|ext|broot) == 0 {
			return nil
		}
		if k >= len(it.regions) {
			return abi.Errorf(abi.EUCLEAN, "xfs: log: inode %d item without its fork", in.Ino)
		}
		r := it.regions[k]
		k++
		if in.Fields&broot != 0 {
			return xfs.BrootToBmdr(r, bmbtHdr, room)
		}
		copy(room, r)
		return nil
	}
	if err := fork(xfs.IlogDData, xfs.IlogDExt, xfs.IlogDBroot, dip[core:core+dsize]); err != nil {
		return err
	}
	if in.Fields&xfs.IlogDev != 0 {
		be := dip[core:]
		be[0], be[1], be[2], be[3] = byte(in.Rdev>>24), byte(in.Rdev>>16), byte(in.Rdev>>8), byte(in.Rdev)
	}
	if forkoff != 0 {
		if err := fork(xfs.IlogAData, xfs.IlogAExt, xfs.IlogABroot, dip[core+forkoff:]); err != nil {
			return err
		}
	}
	if f.crc {
		f.fixChecksums(dip)
	}
	o.write(buf, lo)
	return nil
}

// replayIcreate initialises a new inode chunk (xlog_recover_icreate_commit_pass2
// and xfs_ialloc_inode_init): every inode of the range zeroed but for
// its magic, version, generation, empty unlinked pointer and, on v5, its
// number, the filesystem's uuid and its checksum; passed over when its
// buffers are cancelled.
func (f *fsys) replayIcreate(o *overlayDev, it *ritem, cancelled map[int64]int) error {
	ic, err := xfs.DecodeIcreate(it.regions[0])
	if err != nil {
		return err
	}
	sb := f.sb
	if ic.Ag >= sb.AgCount || ic.Agbno >= sb.AgBlocks || ic.Length == 0 || ic.Length > 64 ||
		ic.Agbno+ic.Length > sb.AgBlocks || ic.Isize != uint32(sb.InodeSize) ||
		ic.Count != ic.Length<<sb.InopBLog {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: icreate of %d inodes at group %d block %d (%d blocks)", ic.Count, ic.Ag, ic.Agbno, ic.Length)
	}
	off, err := f.fsbToByte(uint64(ic.Ag)<<sb.AgBlkLog | uint64(ic.Agbno))
	if err != nil {
		return err
	}
	if cancelled[off/xfs.BBSize] > 0 {
		return nil
	}
	buf := make([]byte, int64(ic.Length)<<f.blkbits)
	ino := uint64(ic.Ag)<<sb.InoBits() | uint64(ic.Agbno)<<sb.InopBLog
	uuid := sb.UUID
	if sb.FeaturesIncompat&xfs.FeatIncompatMetaUUID != 0 {
		uuid = sb.MetaUUID
	}
	isz := int(sb.InodeSize)
	for i := 0; i < int(ic.Count); i++ {
		d := buf[i*isz : (i+1)*isz]
		d[0], d[1] = byte(xfs.DinodeMagic>>8), byte(xfs.DinodeMagic&0xff)
		d[4] = 2
		putBE32(d[92:], ic.Gen)
		putBE32(d[96:], ^uint32(0))
		if f.crc {
			d[4] = 3
			putBE32(d[152:], uint32(ino>>32))
			putBE32(d[156:], uint32(ino))
			copy(d[160:176], uuid[:])
		}
		ino++
	}
	if f.crc {
		f.fixChecksums(buf)
	}
	o.write(buf, off)
	return nil
}

// openIntent is an intent the log has not seen done: its format region
// and its place in log order.
type openIntent struct {
	seq int
	r   []byte
}

// applyBmaps applies the unfinished mapping updates of inode ip, in log
// order, to the extent lists of the forks they name, as Linux's
// recovery finishes them (xfs_bmap_recover_work, xfs_bmap_finish_one):
// a map inserts the extent into a hole (xfs_bmapi_remap: an overlap is
// corruption), an unmap removes whatever the range maps, splitting
// extents at its ends (__xfs_bunmapi, relogged until the whole range is
// done, its blocks left to the reference count updates). di_nblocks
// follows both, as those functions change i_nblocks.
func (ip *inode) applyBmaps(ms []xfs.MapExtent) error {
	for _, m := range ms {
		which := dataFork
		if m.Flags&xfs.BmapExtentAttrFork != 0 {
			which = attrFork
		}
		format := ip.di.Format
		if which == attrFork {
			format = ip.di.AFormat
			if ip.di.Forkoff == 0 {
				format = 0
			}
		}
		if format != xfs.FmtExtents && format != xfs.FmtBtree {
			return abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update of inode %d: fork %d of format %d has no extents", ip.ino, which, format)
		}
		slot := &ip.data
		if which == attrFork {
			slot = &ip.attr
		}
		if *slot == nil {
			exts, err := ip.readExtents(which)
			if err != nil {
				return err
			}
			*slot = &exts
		}
		exts, lo, hi := **slot, m.StartOff, m.StartOff+uint64(m.Len)
		var out []xfs.Bmbt
		switch m.Type() {
		case xfs.BmapMap:
			at := len(exts)
			for i, e := range exts {
				if e.StartOff+e.BlockCount > lo && e.StartOff < hi {
					return abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update of inode %d maps file block %d, already mapped", ip.ino, max(lo, e.StartOff))
				}
				if e.StartOff >= hi && at == len(exts) {
					at = i
				}
			}
			out = append(out, exts[:at]...)
			out = append(out, xfs.Bmbt{StartOff: lo, StartBlock: m.StartBlock, BlockCount: uint64(m.Len),
				Unwritten: m.Flags&xfs.BmapExtentUnwritten != 0})
			out = append(out, exts[at:]...)
			ip.di.NBlocks += uint64(m.Len)
		case xfs.BmapUnmap:
			for _, e := range exts {
				end := e.StartOff + e.BlockCount
				if end <= lo || e.StartOff >= hi {
					out = append(out, e)
					continue
				}
				if e.StartOff < lo {
					out = append(out, xfs.Bmbt{StartOff: e.StartOff, StartBlock: e.StartBlock, BlockCount: lo - e.StartOff, Unwritten: e.Unwritten})
				}
				if end > hi {
					out = append(out, xfs.Bmbt{StartOff: hi, StartBlock: e.StartBlock + (hi - e.StartOff), BlockCount: end - hi, Unwritten: e.Unwritten})
				}
				ip.di.NBlocks -= min(ip.di.NBlocks, min(end, hi)-max(e.StartOff, lo))
			}
		}
		*slot = &out
	}
	return nil
}

func putBE32(p []byte, v uint32) {
	p[0], p[1], p[2], p[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// finishIntents settles the intents the log left without their done
// items, which Linux finishes once the log is replayed
// (xlog_recover_process_intents); nothing is written here, so what they
// would do must leave every file as the replay made it. An extent free
// (EFI) gives back blocks their owner let go of in the same transaction
// (a truncate, a removal): only the free space btrees change, which this
// driver does not read; its blocks are counted free (o.freed) for
// statfs. Reverse-mapping updates (RUI) change only the rmap btree.
// Reference count updates (CUI) change only the refcount btree, but one
// that drops an extent's last reference frees it, which only that btree
// tells: statfs may then count fewer free blocks than Linux's. A file
// mapping update (BUI: a reflink remap, the end of a copy-on-write)
// maps or unmaps a range of one fork; it is kept in o.bmaps for iget to
// apply to the inode's extent list and block count as
// xfs_bmap_finish_one would (applyBmaps). Attribute (ATTRI) and range
// exchange (XMI) intents change files in ways not yet replayed, and
// realtime ones a volume this driver refuses: refused.
func (f *fsys) finishIntents(o *overlayDev, open map[uint64]openIntent) error {
	ids := make([]uint64, 0, len(open))
	for id := range open {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return open[ids[i]].seq < open[ids[j]].seq })
	for _, id := range ids {
		r := open[id].r
		switch typ := xfs.ItemType(r); typ {
		case xfs.LiEFI:
			efi, err := xfs.DecodeEFI(r)
			if err != nil {
				return err
			}
			for _, x := range efi.Extents {
				if x.Len == 0 || x.Len > f.sb.AgBlocks {
					return abi.Errorf(abi.EUCLEAN, "xfs: log: extent-free intent %x frees %d blocks at %d", id, x.Len, x.Start)
				}
				o.freed += uint64(x.Len)
			}
			o.intents++
		case xfs.LiRUI, xfs.LiCUI:
			o.intents++
		case xfs.LiBUI:
			bui, err := xfs.DecodeBUI(r)
			if err != nil {
				return err
			}
			m := bui.Extents[0]
			if m.Flags&xfs.BmapExtentRealtime != 0 {
				return abi.Errorf(abi.EOPNOTSUPP, "xfs: log: mapping update intent %x is of a realtime file: mount with -o norecovery", id)
			}
			// xfs_bui_validate_extent: the owner an inode number
			// and the extent within one group (xfs_verify_ino,
			// xfs_verify_fsbext).
			sb := f.sb
			agno, agbno := m.StartBlock>>sb.AgBlkLog, m.StartBlock&(1<<sb.AgBlkLog-1)
			if m.Owner == 0 || m.Owner>>sb.InoBits() >= uint64(sb.AgCount) ||
				agno >= uint64(sb.AgCount) || agbno+uint64(m.Len) > uint64(sb.AgBlocks) {
				return abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update intent %x: inode %d, %d blocks at %d", id, m.Owner, m.Len, m.StartBlock)
			}
			if o.bmaps == nil {
				o.bmaps = map[uint64][]xfs.MapExtent{}
			}
			o.bmaps[m.Owner] = append(o.bmaps[m.Owner], m)
			o.intents++
		default:
			return abi.Errorf(abi.EOPNOTSUPP, "xfs: log: intent 0x%x (id %x) left unfinished changes files, which this kernel does not finish: mount with -o norecovery", typ, id)
		}
	}
	return nil
}
