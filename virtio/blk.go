package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
)

// virtio-blk (virtio 1.2 §5.2).

// SectorSize is the unit of capacity and of request sectors (§5.2.4:
// "capacity ... in 512-byte sectors"), whatever blk_size says.
const SectorSize = 512

// Feature bits of the block device (§5.2.3).
const (
	BlkFSizeMax     Features = 1 << 1
	BlkFSegMax      Features = 1 << 2
	BlkFGeometry    Features = 1 << 4
	BlkFRO          Features = 1 << 5
	BlkFBlkSize     Features = 1 << 6
	BlkFFlush       Features = 1 << 9
	BlkFTopology    Features = 1 << 10
	BlkFConfigWCE   Features = 1 << 11
	BlkFMQ          Features = 1 << 12
	BlkFDiscard     Features = 1 << 13
	BlkFWriteZeroes Features = 1 << 14
)

// Offsets in struct virtio_blk_config (§5.2.4).
const (
	BlkCfgCapacity               = 0  // le64, 512-byte sectors
	BlkCfgSizeMax                = 8  // le32
	BlkCfgSegMax                 = 12 // le32
	BlkCfgGeometry               = 16 // le16 cylinders, u8 heads, u8 sectors
	BlkCfgBlkSize                = 20 // le32
	BlkCfgTopology               = 24 // u8 physical_block_exp, u8 alignment_offset, le16 min_io_size, le32 opt_io_size
	BlkCfgWriteback              = 32 // u8
	BlkCfgNumQueues              = 34 // le16
	BlkCfgMaxDiscardSectors      = 36 // le32
	BlkCfgMaxDiscardSeg          = 40 // le32
	BlkCfgDiscardSectorAlignment = 44 // le32
	BlkCfgMaxWriteZeroesSectors  = 48 // le32
	BlkCfgMaxWriteZeroesSeg      = 52 // le32
	BlkCfgWriteZeroesMayUnmap    = 56 // u8
	blkConfigSize                = 60 // through unused1[3]; secure erase and zoned fields not offered
)

// Request types (§5.2.6).
const (
	BlkTIn          uint32 = 0
	BlkTOut         uint32 = 1
	BlkTFlush       uint32 = 4
	BlkTGetID       uint32 = 8
	BlkTDiscard     uint32 = 11
	BlkTWriteZeroes uint32 = 13
)

// Request status values (§5.2.6).
const (
	BlkSOK     uint8 = 0
	BlkSIOErr  uint8 = 1
	BlkSUnsupp uint8 = 2
)

// BlkHeaderSize is the size of struct virtio_blk_req's header: le32 type,
// le32 reserved, le64 sector (§5.2.6).
const BlkHeaderSize = 16

// BlkIDBytes is the size of the GET_ID answer (§5.2.6: 20 bytes, NUL padded).
const BlkIDBytes = 20

// BlkDiscardSegSize is struct virtio_blk_discard_write_zeroes: le64
// sector, le32 num_sectors, le32 flags (§5.2.6).
const BlkDiscardSegSize = 16

// BlkDWZFUnmap is the only flag of a discard/write-zeroes segment: for
// WRITE_ZEROES, the device may deallocate the range (§5.2.6).
const BlkDWZFUnmap uint32 = 1

// PutBlkHeader encodes a request header into b[:16].
func PutBlkHeader(b []byte, typ uint32, sector uint64) {
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint64(b[8:], sector)
}

// PutBlkDiscardSeg encodes one discard/write-zeroes segment into b[:16].
func PutBlkDiscardSeg(b []byte, sector uint64, num uint32, flags uint32) {
	binary.LittleEndian.PutUint64(b[0:], sector)
	binary.LittleEndian.PutUint32(b[8:], num)
	binary.LittleEndian.PutUint32(b[12:], flags)
}

// BlkConfig chooses what the block device offers.
type BlkConfig struct {
	// Serial is the GET_ID answer, at most 20 bytes.
	Serial string
	// QueueSize is the largest queue the device accepts (QueueNumMax).
	// Default 256.
	QueueSize int
	// Workers is the number of goroutines serving requests in parallel.
	// Default 4.
	Workers int
	// SegMax is the most data segments in one request. Default
	// QueueSize-2, what a chain of header, data and status can hold.
	SegMax uint32
	// BlkSize is the advertised logical block size. Default 512.
	BlkSize uint32
	// MaxDiscardSectors and MaxWriteZeroesSectors bound one segment;
	// MaxDiscardSeg and MaxWriteZeroesSeg the segments in one request.
	// Defaults: 1<<22 sectors (2 GiB) per segment, 16 segments.
	MaxDiscardSectors, MaxDiscardSeg         uint32
	MaxWriteZeroesSectors, MaxWriteZeroesSeg uint32
}

// blk is the virtio-blk function of a Device.
type blk struct {
	be       Backend
	cfg      BlkConfig
	capacity atomic.Uint64 // in sectors; changes only by resize
	ro       bool
	offered  Features
	feat     Features // negotiated; set before workers start, read-only after
	// space is the config space: replaced whole, never changed in
	// place, by resize, which counts gen up first and after (§2.5.1).
	space atomic.Pointer[[]byte]
	gen   atomic.Uint32
}

// NewBlkDevice makes a virtio-blk device over be. The device owns be and
// closes it in Close.
func NewBlkDevice(be Backend, cfg BlkConfig) (*Device, error) {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 256
	}
	if err := CheckQueueSize(cfg.QueueSize); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SegMax == 0 {
		cfg.SegMax = uint32(max(cfg.QueueSize-2, 1))
	}
	if cfg.BlkSize == 0 {
		cfg.BlkSize = SectorSize
	}
	if cfg.BlkSize < SectorSize || cfg.BlkSize&(cfg.BlkSize-1) != 0 {
		return nil, fmt.Errorf("virtio-blk: block size %d is not a power of 2 >= 512", cfg.BlkSize)
	}
	if len(cfg.Serial) > BlkIDBytes {
		return nil, fmt.Errorf("virtio-blk: serial %q longer than %d bytes", cfg.Serial, BlkIDBytes)
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxDiscardSectors, 1<<22)
	def(&cfg.MaxDiscardSeg, 16)
	def(&cfg.MaxWriteZeroesSectors, 1<<22)
	def(&cfg.MaxWriteZeroesSeg, 16)

	b := &blk{be: be, cfg: cfg, ro: be.ReadOnly()}
	b.capacity.Store(uint64(be.Size()) / SectorSize)
	b.offered = FVersion1 | FIndirectDesc | BlkFSegMax | BlkFBlkSize | BlkFFlush | BlkFDiscard | BlkFWriteZeroes
	if b.ro {
		b.offered |= BlkFRO
	}
	s := make([]byte, blkConfigSize)
	le := binary.LittleEndian
	le.PutUint64(s[BlkCfgCapacity:], b.capacity.Load())
	le.PutUint32(s[BlkCfgSegMax:], cfg.SegMax)
	le.PutUint32(s[BlkCfgBlkSize:], cfg.BlkSize)
	le.PutUint16(s[BlkCfgNumQueues:], 1)
	le.PutUint32(s[BlkCfgMaxDiscardSectors:], cfg.MaxDiscardSectors)
	le.PutUint32(s[BlkCfgMaxDiscardSeg:], cfg.MaxDiscardSeg)
	le.PutUint32(s[BlkCfgDiscardSectorAlignment:], cfg.BlkSize/SectorSize)
	le.PutUint32(s[BlkCfgMaxWriteZeroesSectors:], cfg.MaxWriteZeroesSectors)
	le.PutUint32(s[BlkCfgMaxWriteZeroesSeg:], cfg.MaxWriteZeroesSeg)
	// A backend that cannot deallocate writes its zeros: the driver
	// must not take its write-zeroes for a cheap unmap.
	if u, ok := be.(interface{ CanUnmap() bool }); !ok || u.CanUnmap() {
		s[BlkCfgWriteZeroesMayUnmap] = 1
	}
	b.space.Store(&s)
	return newDevice(b, cfg.QueueSize, cfg.Workers), nil
}

func (b *blk) deviceID() DeviceID    { return DeviceIDBlock }
func (b *blk) features() Features    { return b.offered }
func (b *blk) config() []byte        { return *b.space.Load() }
func (b *blk) generation() uint32    { return b.gen.Load() }
func (b *blk) negotiated(f Features) { b.feat = f }
func (b *blk) close() error          { return b.be.Close() }
func (b *blk) decode(c *chain) error { return decodeBlk(c) }

// Resizer is a Backend whose size can change: a raw image file.
type Resizer interface {
	// Resize makes the backend n bytes long; errors.ErrUnsupported if
	// it cannot be (a host block device).
	Resize(n int64) error
}

// resize is the host changing the disk's size, as QEMU's block_resize
// does: the backend is resized and the capacity in the config space
// follows, the generation counted up around the change (§2.5.1), so a
// driver reading the config space sees the old capacity or the new one,
// never a mix. The driver learns of it by reading the config space again
// (virtblk_config_changed); no request may be in flight.
func (b *blk) resize(n int64) error {
	r, ok := b.be.(Resizer)
	if !ok || b.ro {
		return fmt.Errorf("virtio-blk: resize: %w", errors.ErrUnsupported)
	}
	if err := r.Resize(n); err != nil {
		return err
	}
	s := append([]byte(nil), b.config()...)
	capacity := uint64(b.be.Size()) / SectorSize
	binary.LittleEndian.PutUint64(s[BlkCfgCapacity:], capacity)
	b.gen.Add(1)
	b.capacity.Store(capacity)
	b.space.Store(&s)
	b.gen.Add(1)
	return nil
}

// blkRequest is a virtio-blk request decoded from a chain (§5.2.6). The
// spec lets the driver frame it in any descriptors (§2.6.4), so the
// header, data and status are found by byte position, not by descriptor.
type blkRequest struct {
	typ    uint32
	sector uint64
	data   [][]byte // readable bytes after the header, or writable bytes before the status
	dlen   uint64
	status []byte // the last writable byte
}

// deviceWrites reports whether the data of a request of type typ goes from
// device to driver.
func deviceWrites(typ uint32) bool { return typ == BlkTIn || typ == BlkTGetID }

// decodeBlk finds header, data and status in c's buffers. A chain without
// a full header or a status byte cannot even be answered: that is a
// driver error.
func decodeBlk(c *chain) error {
	r := &c.blk
	if c.rlen < BlkHeaderSize {
		return fmt.Errorf("virtio-blk: chain %d: %d readable bytes, short of the %d-byte header", c.head, c.rlen, BlkHeaderSize)
	}
	if c.wlen < 1 {
		return fmt.Errorf("virtio-blk: chain %d: no writable status byte", c.head)
	}
	var h [BlkHeaderSize]byte
	gather(h[:], c.readable, 0)
	r.typ = binary.LittleEndian.Uint32(h[0:])
	r.sector = binary.LittleEndian.Uint64(h[8:])

	// The status is the last writable byte.
	last := len(c.writable) - 1
	for len(c.writable[last]) == 0 {
		last--
	}
	lb := c.writable[last]
	r.status = lb[len(lb)-1:]

	r.data = r.data[:0]
	if deviceWrites(r.typ) {
		r.dlen = c.wlen - 1
		for i, w := range c.writable[:last+1] {
			if i == last {
				w = w[:len(w)-1]
			}
			if len(w) > 0 {
				r.data = append(r.data, w)
			}
		}
	} else {
		r.dlen = c.rlen - BlkHeaderSize
		skip := BlkHeaderSize
		for _, rb := range c.readable {
			if skip >= len(rb) {
				skip -= len(rb)
				continue
			}
			r.data = append(r.data, rb[skip:])
			skip = 0
		}
	}
	return nil
}

// gather copies len(dst) bytes starting at byte off of bufs into dst; the
// caller has checked they exist.
func gather(dst []byte, bufs [][]byte, off uint64) {
	for _, b := range bufs {
		if len(dst) == 0 {
			return
		}
		if off >= uint64(len(b)) {
			off -= uint64(len(b))
			continue
		}
		n := copy(dst, b[off:])
		dst = dst[n:]
		off = 0
	}
}

// errBlk is a request the device answers with a status other than OK.
type errBlk uint8

func (e errBlk) Error() string { return fmt.Sprintf("virtio-blk status %d", uint8(e)) }

// serve performs one request and writes its status (§5.2.6.1).
func (b *blk) serve(c *chain) uint32 {
	r := &c.blk
	written, err := b.do(r)
	st := BlkSOK
	if err != nil {
		st = BlkSIOErr
		var e errBlk
		if errors.As(err, &e) {
			st = uint8(e)
		}
		written = 0
	}
	r.status[0] = st
	return written + 1
}

// do performs r and returns how many data bytes it wrote into the
// driver's buffers.
func (b *blk) do(r *blkRequest) (uint32, error) {
	switch r.typ {
	case BlkTIn:
		off, err := b.rangeOf(r.sector, r.dlen)
		if err != nil {
			return 0, err
		}
		if err := b.be.ReadAt(r.data, off); err != nil {
			return 0, err
		}
		return uint32(r.dlen), nil
	case BlkTOut:
		// §5.2.6.2: a write to a read-only device fails and writes nothing.
		if b.ro {
			return 0, errBlk(BlkSIOErr)
		}
		off, err := b.rangeOf(r.sector, r.dlen)
		if err != nil {
			return 0, err
		}
		return 0, b.be.WriteAt(r.data, off)
	case BlkTFlush:
		if !b.feat.Has(BlkFFlush) {
			return 0, errBlk(BlkSUnsupp)
		}
		if b.ro {
			return 0, nil
		}
		return 0, b.be.Flush()
	case BlkTGetID:
		var id [BlkIDBytes]byte
		copy(id[:], b.cfg.Serial)
		n := scatter(r.data, id[:])
		return uint32(n), nil
	case BlkTDiscard:
		if !b.feat.Has(BlkFDiscard) {
			return 0, errBlk(BlkSUnsupp)
		}
		return 0, b.discardWriteZeroes(r, false)
	case BlkTWriteZeroes:
		if !b.feat.Has(BlkFWriteZeroes) {
			return 0, errBlk(BlkSUnsupp)
		}
		return 0, b.discardWriteZeroes(r, true)
	}
	return 0, errBlk(BlkSUnsupp)
}

// rangeOf checks that n bytes from sector lie within the capacity and are
// whole sectors (§5.2.6.1: IN and OUT data is a multiple of 512 bytes),
// and returns the byte offset. 64-bit throughout: no 2 TiB limit.
func (b *blk) rangeOf(sector, n uint64) (int64, error) {
	capacity := b.capacity.Load()
	if n%SectorSize != 0 || sector > capacity || n/SectorSize > capacity-sector {
		return 0, errBlk(BlkSIOErr)
	}
	return int64(sector * SectorSize), nil
}

// discardWriteZeroes serves DISCARD and WRITE_ZEROES: the data is an array
// of segments (§5.2.6, struct virtio_blk_discard_write_zeroes), each
// checked before any is applied.
func (b *blk) discardWriteZeroes(r *blkRequest, zero bool) error {
	if b.ro {
		return errBlk(BlkSIOErr)
	}
	maxSeg, maxSectors := b.cfg.MaxDiscardSeg, b.cfg.MaxDiscardSectors
	if zero {
		maxSeg, maxSectors = b.cfg.MaxWriteZeroesSeg, b.cfg.MaxWriteZeroesSectors
	}
	if r.dlen == 0 || r.dlen%BlkDiscardSegSize != 0 || r.dlen/BlkDiscardSegSize > uint64(maxSeg) {
		return errBlk(BlkSIOErr)
	}
	n := r.dlen / BlkDiscardSegSize
	for pass := 0; pass < 2; pass++ {
		for i := uint64(0); i < n; i++ {
			var s [BlkDiscardSegSize]byte
			gather(s[:], r.data, i*BlkDiscardSegSize)
			sector := binary.LittleEndian.Uint64(s[0:])
			num := binary.LittleEndian.Uint32(s[8:])
			flags := binary.LittleEndian.Uint32(s[12:])
			if pass == 0 {
				// §5.2.6.2: unmap on DISCARD, or unknown flags, are UNSUPP.
				if flags&^BlkDWZFUnmap != 0 || (!zero && flags != 0) {
					return errBlk(BlkSUnsupp)
				}
				if num > maxSectors {
					return errBlk(BlkSIOErr)
				}
				if _, err := b.rangeOf(sector, uint64(num)*SectorSize); err != nil {
					return err
				}
				continue
			}
			off, length := int64(sector*SectorSize), int64(num)*SectorSize
			var err error
			switch {
			case !zero:
				// DISCARD is advisory: a backend that cannot
				// deallocate has still done all it must.
				if err = b.be.Discard(off, length); errors.Is(err, errors.ErrUnsupported) {
					err = nil
				}
			case flags&BlkDWZFUnmap != 0:
				// Deallocating is allowed, and a punched hole reads as zeros.
				err = b.be.Discard(off, length)
				if err != nil {
					err = b.be.WriteZeroes(off, length)
				}
			default:
				err = b.be.WriteZeroes(off, length)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// scatter copies src into bufs in order and returns the bytes copied.
func scatter(bufs [][]byte, src []byte) int {
	n := 0
	for _, b := range bufs {
		if len(src) == 0 {
			break
		}
		k := copy(b, src)
		src = src[k:]
		n += k
	}
	return n
}
