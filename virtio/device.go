package virtio

import (
	"errors"
	"fmt"
	"sync"
)

// function is what makes a Device a particular kind of device: its
// features and config space, how a chain becomes a request, and how a
// request is served. Only virtio-blk exists.
type function interface {
	deviceID() DeviceID
	features() Features
	config() []byte
	// generation is the config generation (§2.5.1).
	generation() uint32
	// negotiated is called at FEATURES_OK with the accepted features,
	// before any worker starts.
	negotiated(Features)
	// decode checks and decodes the request in c; it runs under
	// Device.mu, in the driver's Notify call, so it must be quick.
	decode(c *chain) error
	// serve performs the request in c and returns used.len, the number of
	// bytes written into the driver's buffers. It runs on a worker.
	serve(c *chain) uint32
	close() error
}

// Device is a virtio device with one split virtqueue, served by a pool of
// worker goroutines. It implements Transport.
type Device struct {
	fn      function
	maxSize int
	workers int

	resetMu sync.Mutex // serialises resets, which wait for the workers without mu

	mu         sync.Mutex
	status     Status        // guarded by mu
	driverFeat Features      // guarded by mu
	feat       Features      // accepted at FEATURES_OK; guarded by mu
	mem        Memory        // guarded by mu
	irq        InterruptFunc // guarded by mu; also read by workers, fixed while they run
	q          *virtqueue    // guarded by mu; fixed while workers run
	work       chan *chain   // nil unless workers run; guarded by mu
	inflight   int           // chains taken and not yet returned; guarded by mu
	broken     bool          // NEEDS_RESET set: take no more chains; guarded by mu
	brokenErr  error         // why; guarded by mu
	wg         sync.WaitGroup

	usedMu sync.Mutex // guards the used ring and serialises interrupts
}

func newDevice(fn function, maxSize, workers int) *Device {
	return &Device{fn: fn, maxSize: maxSize, workers: workers}
}

// DeviceID implements Transport.
func (d *Device) DeviceID() DeviceID { return d.fn.deviceID() }

// DeviceFeatures implements Transport.
func (d *Device) DeviceFeatures() Features { return d.fn.features() }

// SetDriverFeatures implements Transport.
func (d *Device) SetDriverFeatures(f Features) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status&StatusFeaturesOK == 0 {
		d.driverFeat = f
	}
}

// Status implements Transport.
func (d *Device) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Err returns why the device set DEVICE_NEEDS_RESET, or nil.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.brokenErr
}

// SetStatus implements Transport.
func (d *Device) SetStatus(s Status) {
	if s == 0 {
		d.reset()
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.status
	// NEEDS_RESET is the device's to set, and the driver never clears a
	// bit except by reset (§2.1.1): bits already set stay set, so the
	// negotiated features cannot change under running workers.
	s = s&^StatusDeviceNeedsReset | old
	if s&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		// §2.2.2: the device accepts only a subset of what it offered,
		// and §6.1: a modern device requires VIRTIO_F_VERSION_1.
		f := d.driverFeat
		if f&^d.fn.features() != 0 || !f.Has(FVersion1) {
			s &^= StatusFeaturesOK
		} else {
			d.feat = f
			d.fn.negotiated(f)
		}
	}
	if s&StatusDriverOK != 0 && old&StatusDriverOK == 0 {
		if s&StatusFeaturesOK == 0 || d.q == nil || d.mem == nil {
			// DRIVER_OK without a negotiated, configured queue is a
			// driver error the device cannot work with.
			s &^= StatusDriverOK
			s |= StatusDeviceNeedsReset
		} else {
			d.start()
		}
	}
	d.status = s
}

// start launches the workers. The caller holds mu.
func (d *Device) start() {
	d.work = make(chan *chain, d.q.size) // never full: at most q.size chains in flight
	for range d.workers {
		d.wg.Add(1)
		go d.worker(d.work, d.q, d.irq)
	}
}

// reset is a write of 0 to the status (§2.4): it waits for the requests
// in flight to complete, stops the workers and returns the device to its
// initial state.
func (d *Device) reset() {
	d.resetMu.Lock()
	defer d.resetMu.Unlock()
	d.mu.Lock()
	if d.work != nil {
		close(d.work)
		d.work = nil
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	d.status = 0
	d.driverFeat = 0
	d.feat = 0
	d.q = nil
	d.inflight = 0
	d.broken = false
	d.brokenErr = nil
	d.mu.Unlock()
}

// ConfigGeneration implements Transport. The config space changes only
// when the host resizes the disk (Resize).
func (d *Device) ConfigGeneration() uint32 { return d.fn.generation() }

// Resize is the host's side of a change of the disk's size (QEMU's
// block_resize): the backend becomes n bytes long and the capacity in
// the config space follows. The driver must have no request in flight,
// and reads the new capacity from the config space (as Linux's
// virtblk_config_changed does on the interrupt). Errors: one matching
// errors.ErrUnsupported for a backend that cannot change its size (a
// host block device, a read-only image); the host's.
func (d *Device) Resize(n int64) error {
	b, ok := d.fn.(*blk)
	if !ok {
		return fmt.Errorf("virtio: resize of device type %d: %w", d.fn.deviceID(), errors.ErrUnsupported)
	}
	return b.resize(n)
}

// ReadConfig implements Transport.
func (d *Device) ReadConfig(off int, b []byte) {
	clear(b)
	cfg := d.fn.config()
	if off >= 0 && off < len(cfg) {
		copy(b, cfg[off:])
	}
}

// NumQueues implements Transport.
func (d *Device) NumQueues() int { return 1 }

// QueueMaxSize implements Transport.
func (d *Device) QueueMaxSize(q int) int {
	if q != 0 {
		return 0
	}
	return d.maxSize
}

// Attach implements Transport.
func (d *Device) Attach(mem Memory, irq InterruptFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mem, d.irq = mem, irq
}

// SetupQueue implements Transport.
func (d *Device) SetupQueue(qi int, cfg QueueConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case qi != 0:
		return fmt.Errorf("virtio: no queue %d", qi)
	case d.status&StatusFeaturesOK == 0 || d.status&StatusDriverOK != 0:
		return fmt.Errorf("virtio: queue setup in status %v", d.status)
	case d.mem == nil:
		return fmt.Errorf("virtio: queue setup before Attach")
	case cfg.Size > d.maxSize:
		return fmt.Errorf("virtio: queue size %d above maximum %d", cfg.Size, d.maxSize)
	}
	q, err := newVirtqueue(d.mem, cfg, d.feat)
	if err != nil {
		return err
	}
	d.q = q
	return nil
}

// Notify implements Transport: it takes every available chain and hands
// it to the workers. Nothing happens before DRIVER_OK or after the device
// has set NEEDS_RESET.
func (d *Device) Notify(qi int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if qi != 0 || d.work == nil || d.broken {
		return
	}
	for {
		c, err := d.q.pop(d.mem)
		if err == nil && c != nil {
			if err = d.fn.decode(c); err != nil {
				d.q.release(c)
			}
		}
		if err != nil {
			d.fail(err)
			return
		}
		if c == nil {
			return
		}
		d.inflight++
		d.work <- c
	}
}

// fail sets DEVICE_NEEDS_RESET (§2.1.2). The configuration change
// interrupt goes out once the requests in flight have completed, so the
// driver then knows that no other buffer will be used. The caller holds
// mu.
func (d *Device) fail(err error) {
	d.broken = true
	d.brokenErr = err
	d.status |= StatusDeviceNeedsReset
	if d.inflight == 0 {
		d.configInterrupt(d.irq)
	}
}

// configInterrupt sends a configuration change notification, serialised
// with the used buffer ones.
func (d *Device) configInterrupt(irq InterruptFunc) {
	if irq == nil {
		return
	}
	d.usedMu.Lock()
	defer d.usedMu.Unlock()
	irq(InterruptConfigChange, 0)
}

func (d *Device) worker(work <-chan *chain, q *virtqueue, irq InterruptFunc) {
	defer d.wg.Done()
	for c := range work {
		head := c.head
		written := d.fn.serve(c)
		d.mu.Lock()
		q.release(c)
		d.inflight--
		drained := d.broken && d.inflight == 0
		d.mu.Unlock()

		d.usedMu.Lock()
		q.push(head, written)
		if irq != nil {
			irq(InterruptUsedBuffer, 0)
		}
		d.usedMu.Unlock()
		if drained {
			d.configInterrupt(irq)
		}
	}
}

// Close resets the device and closes its backend.
func (d *Device) Close() error {
	d.reset()
	return d.fn.close()
}
