package virtio

import (
	"fmt"
	"strings"
)

// Status is the device status field (virtio 1.2 §2.1).
type Status uint8

// Device status bits (§2.1).
const (
	StatusAcknowledge      Status = 1   // the guest noticed the device
	StatusDriver           Status = 2   // the guest knows how to drive it
	StatusDriverOK         Status = 4   // the driver is set up and live
	StatusFeaturesOK       Status = 8   // feature negotiation is complete
	StatusDeviceNeedsReset Status = 64  // the device hit an error it cannot recover from
	StatusFailed           Status = 128 // the driver gave up on the device
)

func (s Status) String() string {
	if s == 0 {
		return "RESET"
	}
	names := []struct {
		bit  Status
		name string
	}{
		{StatusAcknowledge, "ACKNOWLEDGE"}, {StatusDriver, "DRIVER"},
		{StatusFeaturesOK, "FEATURES_OK"}, {StatusDriverOK, "DRIVER_OK"},
		{StatusDeviceNeedsReset, "DEVICE_NEEDS_RESET"}, {StatusFailed, "FAILED"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			s &^= n.bit
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint8(s)))
	}
	return strings.Join(parts, "|")
}

// Features is a 64-bit feature bit set (§2.2).
type Features uint64

// Reserved feature bits (§6).
const (
	FIndirectDesc Features = 1 << 28 // VIRTIO_F_INDIRECT_DESC: chains may use indirect tables
	FEventIdx     Features = 1 << 29 // VIRTIO_F_EVENT_IDX (not offered)
	FVersion1     Features = 1 << 32 // VIRTIO_F_VERSION_1: a modern device; required
)

// Has reports whether every bit of f2 is set in f.
func (f Features) Has(f2 Features) bool { return f&f2 == f2 }

// DeviceID names the kind of device (§5).
type DeviceID uint32

// DeviceIDBlock is a block device (§5: device ID 2).
const DeviceIDBlock DeviceID = 2
