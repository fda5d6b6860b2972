package virtioblk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// Options tune the driver. The zero value is good.
type Options struct {
	// QueueSize is the number of descriptors in the virtqueue, a power
	// of 2, capped by the device's maximum. Default 128.
	QueueSize int
	// MaxSegments bounds the data segments in one chain, below the
	// device's seg_max. Default min(seg_max, QueueSize-2, 128).
	MaxSegments int
	// MaxTransfer bounds the data bytes of one chain; larger requests
	// are split. Rounded down to 512. Default 1 MiB.
	MaxTransfer int64
	// StartIndex starts both ring indexes there instead of 0, so tests
	// can cross the 2^16 wrap early (see virtio.QueueConfig).
	StartIndex uint16
}

// acceptedFeatures are the features this driver understands (§5.2.3).
const acceptedFeatures = virtio.FVersion1 | virtio.FIndirectDesc | virtio.BlkFRO | virtio.BlkFBlkSize |
	virtio.BlkFSegMax | virtio.BlkFFlush | virtio.BlkFDiscard | virtio.BlkFWriteZeroes

// Tag buffer layout: one 64-byte block of arena per request slot.
const (
	tagSize      = 64
	tagHeaderOff = 0  // struct virtio_blk_req header, 16 bytes
	tagDWZOff    = 16 // one discard/write-zeroes segment, 16 bytes
	tagIDOff     = 32 // the GET_ID answer, 20 bytes
	tagStatusOff = 52 // the status byte
)

// tag is one request slot: its arena buffer and the channel its submitter
// sleeps on.
type tag struct {
	buf     mm.Addr
	table   mm.Addr  // the tag's indirect descriptor table, when negotiated
	ids     []uint16 // descriptor indexes of the chain being built
	head    uint16
	done    chan struct{} // buffered 1: the interrupt handler never blocks
	written uint32        // used.len; set by the handler before done
	failed  bool          // the device gave up; set by the handler before done
	pending bool          // posted and not yet completed; guarded by Disk.usedMu
}

// Disk is a virtio-blk disk driven over a virtqueue in the arena. It
// implements block.Disk; all methods are safe for concurrent use.
type Disk struct {
	dev   virtio.Transport
	arena *mm.Arena
	owned io.Closer // closed by Close when Open made the device

	// capacity is in sectors, read from config space at New and again
	// when the disk is resized (Resize).
	capacity atomic.Uint64

	// Negotiated and read from config space at New; immutable after.
	feat        virtio.Features
	indirect    bool // VIRTIO_F_INDIRECT_DESC: a request takes one ring slot
	ro          bool
	id          string
	maxSegs     int
	maxTransfer int64
	maxDiscard  uint32 // sectors per discard segment
	maxZeroes   uint32 // sectors per write-zeroes segment
	zeroUnmap   bool

	// The queue (§2.7) and the request slots, laid out at New.
	size      int
	ringAddr  mm.Addr
	ringPages int
	tagAddr   mm.Addr
	tagPages  int
	desc      []byte // descriptor table, in the arena; written under mu
	avail     []byte // available ring; written under mu
	used      []byte // used ring; read by the interrupt handler only
	tags      []tag
	headTag   []int32 // tag of each head descriptor, -1 if none; set under mu before the kick

	mu       sync.Mutex
	cond     sync.Cond // on mu: a tag or descriptors were freed, or the disk closed
	freeDesc []uint16  // stack of free descriptor indexes; guarded by mu
	freeTags []int32   // stack of free tags; guarded by mu
	availIdx uint16    // free-running avail index (§2.7.6); guarded by mu
	active   int       // tags taken; guarded by mu
	closed   bool      // guarded by mu

	broken atomic.Bool // the device set DEVICE_NEEDS_RESET: every request fails with EIO

	usedMu   sync.Mutex // guards tag.pending and lastUsed
	lastUsed uint16     // free-running index of the next used element to read
}

var _ block.Disk = (*Disk)(nil)

// New initialises the device behind dev (virtio 1.2 §3.1.1), sets up its
// virtqueue in arena and returns the disk.
func New(dev virtio.Transport, arena *mm.Arena, opts Options) (*Disk, error) {
	if dev.DeviceID() != virtio.DeviceIDBlock {
		return nil, fmt.Errorf("virtioblk: device type %d is not a block device", dev.DeviceID())
	}
	d := &Disk{dev: dev, arena: arena}
	d.cond.L = &d.mu
	if err := d.init(opts); err != nil {
		// §3.1.1: FAILED tells the device the driver gave up; the
		// reset then makes sure it no longer looks at the queue we
		// are about to free.
		dev.SetStatus(dev.Status() | virtio.StatusFailed)
		dev.SetStatus(0)
		d.freePages()
		return nil, err
	}
	return d, nil
}

func (d *Disk) init(opts Options) error {
	dev := d.dev
	// §3.1.1 steps 1-3: reset, ACKNOWLEDGE, DRIVER.
	dev.SetStatus(0)
	st := virtio.StatusAcknowledge
	dev.SetStatus(st)
	st |= virtio.StatusDriver
	dev.SetStatus(st)

	// Steps 4-6: negotiate; the device may refuse by leaving FEATURES_OK clear.
	offered := dev.DeviceFeatures()
	if !offered.Has(virtio.FVersion1) {
		return errors.New("virtioblk: device does not offer VIRTIO_F_VERSION_1")
	}
	d.feat = offered & acceptedFeatures
	dev.SetDriverFeatures(d.feat)
	st |= virtio.StatusFeaturesOK
	dev.SetStatus(st)
	if dev.Status()&virtio.StatusFeaturesOK == 0 {
		return fmt.Errorf("virtioblk: device refused features %#x", uint64(d.feat))
	}
	d.readConfig(opts)

	// Step 7: the virtqueue.
	size := opts.QueueSize
	if size == 0 {
		size = 128
	}
	size = min(size, dev.QueueMaxSize(0))
	if err := virtio.CheckQueueSize(size); err != nil {
		return err
	}
	if !d.indirect && size < 4 {
		// A chain of header, data and status must fit in the ring.
		return fmt.Errorf("virtioblk: queue of %d descriptors too small without indirect tables", size)
	}
	d.size = size
	d.setLimits(opts)
	if err := d.setupQueue(opts); err != nil {
		return err
	}

	// Step 8: DRIVER_OK; the device is live.
	st |= virtio.StatusDriverOK
	dev.SetStatus(st)
	if dev.Status()&virtio.StatusDriverOK == 0 {
		return fmt.Errorf("virtioblk: device did not accept DRIVER_OK (status %v)", dev.Status())
	}
	return d.readID()
}

// config reads struct virtio_blk_config (§5.2.4), retrying while the
// config generation changes under it (§2.5.1).
func (d *Disk) config() [64]byte {
	var cfg [64]byte
	for {
		gen := d.dev.ConfigGeneration()
		d.dev.ReadConfig(0, cfg[:])
		if d.dev.ConfigGeneration() == gen {
			return cfg
		}
	}
}

// readConfig takes what the driver uses of the config space.
func (d *Disk) readConfig(opts Options) {
	cfg := d.config()
	le := binary.LittleEndian
	d.capacity.Store(le.Uint64(cfg[virtio.BlkCfgCapacity:]))
	d.ro = d.feat.Has(virtio.BlkFRO)
	d.indirect = d.feat.Has(virtio.FIndirectDesc)
	d.maxSegs = 0
	if d.feat.Has(virtio.BlkFSegMax) {
		d.maxSegs = int(le.Uint32(cfg[virtio.BlkCfgSegMax:]))
	}
	d.maxDiscard = le.Uint32(cfg[virtio.BlkCfgMaxDiscardSectors:])
	d.maxZeroes = le.Uint32(cfg[virtio.BlkCfgMaxWriteZeroesSectors:])
	d.zeroUnmap = cfg[virtio.BlkCfgWriteZeroesMayUnmap] != 0
}

// setLimits settles the split sizes once the queue size is known.
func (d *Disk) setLimits(opts Options) {
	segs := 1 << 16
	if !d.indirect {
		segs = d.size - 2 // header and status take a descriptor each
	}
	if d.maxSegs > 0 {
		segs = min(segs, d.maxSegs)
	}
	if opts.MaxSegments > 0 {
		segs = min(segs, opts.MaxSegments)
	} else {
		segs = min(segs, 128)
	}
	d.maxSegs = max(segs, 1)
	d.maxTransfer = opts.MaxTransfer &^ (virtio.SectorSize - 1)
	if d.maxTransfer <= 0 {
		d.maxTransfer = 1 << 20
	}
	// A discard segment's num_sectors is a u32 and the device's maximum
	// may be 0 ("no limit given"): keep each well inside both.
	if d.maxDiscard == 0 || d.maxDiscard > 1<<22 {
		d.maxDiscard = 1 << 22
	}
	if d.maxZeroes == 0 || d.maxZeroes > 1<<22 {
		d.maxZeroes = 1 << 22
	}
}

// setupQueue allocates the rings and the tag buffers from the arena and
// gives the device the queue's addresses.
func (d *Disk) setupQueue(opts Options) error {
	l, err := virtio.NewLayout(0, d.size)
	if err != nil {
		return err
	}
	d.ringPages = int((l.End + mm.PageSize - 1) / mm.PageSize)
	if d.ringAddr, err = d.arena.Alloc(d.ringPages); err != nil {
		d.ringPages = 0
		return err
	}
	base := uint64(d.ringAddr)
	d.desc = d.arena.Bytes(mm.Addr(base+l.Desc), virtio.DescTableSize(d.size))
	d.avail = d.arena.Bytes(mm.Addr(base+l.Avail), virtio.AvailRingSize(d.size))
	d.used = d.arena.Bytes(mm.Addr(base+l.Used), virtio.UsedRingSize(d.size))

	// Request slots: with indirect tables a request takes one ring
	// descriptor, so there are as many as descriptors; without, a
	// request takes at least three. Each slot's arena block holds its
	// header and status, and its indirect table after them.
	chainLen := d.maxSegs + 3 // header, data, inline buffer, status
	ntags, stride := max(d.size/2, 1), tagSize
	if d.indirect {
		ntags = d.size
		stride += (chainLen*virtio.DescSize + tagSize - 1) / tagSize * tagSize
	}
	d.tagPages = (ntags*stride + mm.PageSize - 1) / mm.PageSize
	if d.tagAddr, err = d.arena.Alloc(d.tagPages); err != nil {
		d.tagPages = 0
		return err
	}
	d.tags = make([]tag, ntags)
	d.freeTags = make([]int32, 0, ntags)
	for i := range d.tags {
		t := &d.tags[i]
		t.buf = d.tagAddr + mm.Addr(i*stride)
		t.table = t.buf + tagSize
		t.ids = make([]uint16, chainLen)
		for k := range t.ids {
			t.ids[k] = uint16(k) // the identity, for indirect tables
		}
		t.done = make(chan struct{}, 1)
		d.freeTags = append(d.freeTags, int32(ntags-1-i))
	}
	d.freeDesc = make([]uint16, 0, d.size)
	for i := d.size - 1; i >= 0; i-- {
		d.freeDesc = append(d.freeDesc, uint16(i))
	}
	d.headTag = make([]int32, d.size)
	for i := range d.headTag {
		d.headTag[i] = -1
	}
	d.availIdx, d.lastUsed = opts.StartIndex, opts.StartIndex
	binary.LittleEndian.PutUint16(d.avail[virtio.AvailIdxOff:], d.availIdx)

	d.dev.Attach(arenaMemory{d.arena}, d.interrupt)
	return d.dev.SetupQueue(0, virtio.QueueConfig{
		Size:       d.size,
		Desc:       base + l.Desc,
		Avail:      base + l.Avail,
		Used:       base + l.Used,
		StartIndex: opts.StartIndex,
	})
}

// readID asks the device its serial (VIRTIO_BLK_T_GET_ID); a device that
// does not support it has none.
func (d *Disk) readID() error {
	var id [virtio.BlkIDBytes]byte
	err := d.getID(id[:])
	if err != nil {
		if d.broken.Load() {
			return err
		}
		return nil
	}
	if i := bytes.IndexByte(id[:], 0); i >= 0 {
		d.id = string(id[:i])
	} else {
		d.id = string(id[:])
	}
	return nil
}

// Size implements block.Disk.
func (d *Disk) Size() int64 { return int64(d.capacity.Load() * virtio.SectorSize) }

// Resize asks the host to make the disk n bytes long, as an administrator
// resizing a VM's disk does (QEMU's block_resize; virtio.Device.Resize),
// and reads the new capacity from the config space, as Linux's
// virtblk_config_changed does on the configuration interrupt that
// follows. Only a disk made by Open can be resized, and no request may be
// in flight (the block layer has written back and dropped its pages).
// Errors: EOPNOTSUPP for a disk whose image cannot change size (a host
// block device, a read-only image); EIO with the host's error.
func (d *Disk) Resize(n int64) error {
	r, ok := d.owned.(interface{ Resize(int64) error })
	if !ok {
		return abi.Errorf(abi.EOPNOTSUPP, "virtioblk: this disk cannot be resized")
	}
	err := r.Resize(n)
	if errors.Is(err, errors.ErrUnsupported) {
		return abi.Errorf(abi.EOPNOTSUPP, "virtioblk: %v", err)
	}
	if err != nil {
		return abi.Errorf(abi.EIO, "virtioblk: resize: %v", err)
	}
	cfg := d.config()
	d.capacity.Store(binary.LittleEndian.Uint64(cfg[virtio.BlkCfgCapacity:]))
	return nil
}

// ReadOnly implements block.Disk.
func (d *Disk) ReadOnly() bool { return d.ro }

// ID implements block.Disk.
func (d *Disk) ID() string { return d.id }

// Features returns the negotiated feature bits.
func (d *Disk) Features() virtio.Features { return d.feat }

// Close waits for the requests in flight, resets the device, frees the
// arena pages and, for a disk made by Open, closes the device and its
// image file. Requests after Close fail with ENXIO.
func (d *Disk) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.cond.Broadcast()
	for d.active > 0 {
		d.cond.Wait()
	}
	d.mu.Unlock()
	d.dev.SetStatus(0)
	d.freePages()
	if d.owned != nil {
		return d.owned.Close()
	}
	return nil
}

func (d *Disk) freePages() {
	if d.ringPages > 0 {
		d.arena.Free(d.ringAddr, d.ringPages)
		d.ringPages = 0
	}
	if d.tagPages > 0 {
		d.arena.Free(d.tagAddr, d.tagPages)
		d.tagPages = 0
	}
}
