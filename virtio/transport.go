package virtio

// Interrupt is the cause of an interrupt, as the virtio-mmio InterruptStatus
// register reports it (§4.2.2).
type Interrupt uint32

const (
	// InterruptUsedBuffer: the device put buffers in a used ring (§2.7.14).
	InterruptUsedBuffer Interrupt = 1
	// InterruptConfigChange: the configuration changed, or the device set
	// DEVICE_NEEDS_RESET (§2.1.2, §2.5).
	InterruptConfigChange Interrupt = 2
)

// InterruptFunc receives the device's interrupts, one at a time. For
// InterruptUsedBuffer it runs with the used ring of queue held stable, so
// it may read the ring without locks. It may run on a device worker or,
// for InterruptConfigChange, inside the driver's own Notify call: it must
// not call back into the device, nor take a lock the driver holds across
// Notify.
type InterruptFunc func(cause Interrupt, queue int)

// QueueConfig is what the driver writes into a queue's registers before
// setting QueueReady (§4.2.2: QueueNum, QueueDesc, QueueDriver,
// QueueDevice).
type QueueConfig struct {
	Size  int    // QueueNum: a power of 2, at most QueueMaxSize
	Desc  uint64 // descriptor table, 16-byte aligned
	Avail uint64 // available ring (driver area), 2-byte aligned
	Used  uint64 // used ring (device area), 4-byte aligned

	// StartIndex is where both free-running ring indexes begin. The spec
	// and virtio-mmio have no such register: both start at 0 (§2.7.6,
	// §2.7.8). It exists so tests can start just below the 2^16 wrap;
	// drivers leave it 0.
	StartIndex uint16
}

// Transport is the device as its driver reaches it: the virtio-mmio
// register file (§4.2.2) rendered as methods. All methods are safe for
// concurrent use.
type Transport interface {
	// DeviceID is the kind of device (DeviceIDBlock).
	DeviceID() DeviceID
	// DeviceFeatures returns the features the device offers.
	DeviceFeatures() Features
	// SetDriverFeatures records the features the driver accepts; it takes
	// effect when the driver sets FEATURES_OK (§3.1.1 step 5).
	SetDriverFeatures(Features)
	// Status reads the device status.
	Status() Status
	// SetStatus writes the device status. Writing 0 resets the device:
	// it waits for requests in progress, stops its workers and forgets
	// queues and features (§2.4). Writing FEATURES_OK with features the
	// device cannot accept leaves the bit clear (§2.2.2).
	SetStatus(Status)
	// ConfigGeneration changes whenever the config space does (§2.5.1).
	ConfigGeneration() uint32
	// ReadConfig copies config space from off into b; bytes past its end
	// read as 0.
	ReadConfig(off int, b []byte)
	// NumQueues is the number of virtqueues.
	NumQueues() int
	// QueueMaxSize is QueueNumMax for queue q (§4.2.2).
	QueueMaxSize(q int) int
	// Attach hands the device guest memory and its interrupt line. It is
	// called before the queues are set up.
	Attach(mem Memory, irq InterruptFunc)
	// SetupQueue configures queue q and marks it ready. It is valid after
	// FEATURES_OK and before DRIVER_OK; it fails on a bad size, a
	// misaligned area or one outside memory.
	SetupQueue(q int, cfg QueueConfig) error
	// Notify is the driver's kick: queue q has new available buffers
	// (§2.7.13.4, QueueNotify).
	Notify(q int)
}
