package virtio

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Holes on Windows (NTFS, ReFS): the file is made sparse once
// (FSCTL_SET_SPARSE), then FSCTL_SET_ZERO_DATA zeroes a range, giving
// back the clusters inside it; FSCTL_QUERY_ALLOCATED_RANGES lists where
// the data is. A filesystem without sparse files (FAT, exFAT: invalid
// function, not supported) writes zeros, and is all data.

func punchHole(r *RawFile, off, n int64) error {
	if !r.regular {
		return errors.ErrUnsupported
	}
	var err error
	r.sparseOnce.Do(func() {
		var done uint32
		err = windows.DeviceIoControl(windows.Handle(r.fd), windows.FSCTL_SET_SPARSE, nil, 0, nil, 0, &done, nil)
	})
	if err != nil {
		return winUnsupported("FSCTL_SET_SPARSE", err)
	}
	z := windows.FileZeroDataInformation{FileOffset: off, BeyondFinalZero: off + n}
	var done uint32
	if err := windows.DeviceIoControl(windows.Handle(r.fd), windows.FSCTL_SET_ZERO_DATA,
		(*byte)(unsafe.Pointer(&z)), uint32(unsafe.Sizeof(z)), nil, 0, &done, nil); err != nil {
		return winUnsupported(fmt.Sprintf("FSCTL_SET_ZERO_DATA at %d+%d", off, n), err)
	}
	return nil
}

// zeroRange is a punched hole: it reads as zeros, which is all WRITE
// ZEROES asks.
func zeroRange(r *RawFile, off, n int64) error { return punchHole(r, off, n) }

// allocatedRange is FILE_ALLOCATED_RANGE_BUFFER.
type allocatedRange struct{ Offset, Length int64 }

// nextRange returns the first allocated range of the file at or after
// off, or ok false when there is none before r.size.
func nextRange(r *RawFile, off int64) (allocatedRange, bool, error) {
	in := allocatedRange{Offset: off, Length: r.size - off}
	var out [1]allocatedRange
	var done uint32
	err := windows.DeviceIoControl(windows.Handle(r.fd), windows.FSCTL_QUERY_ALLOCATED_RANGES,
		(*byte)(unsafe.Pointer(&in)), uint32(unsafe.Sizeof(in)), (*byte)(unsafe.Pointer(&out[0])), uint32(unsafe.Sizeof(out)), &done, nil)
	if err != nil && !errors.Is(err, windows.ERROR_MORE_DATA) { // more ranges than the one asked for
		return allocatedRange{}, false, err
	}
	if done < uint32(unsafe.Sizeof(out[0])) {
		return allocatedRange{}, false, nil
	}
	return out[0], true, nil
}

// seekData is the start of the first allocated range from off (off
// itself inside one); none: the end of the device.
func seekData(r *RawFile, off int64) (int64, error) {
	a, ok, err := nextRange(r, off)
	switch {
	case err != nil:
		return off, nil // no allocated ranges here: all data
	case !ok:
		return r.size, nil
	}
	return max(a.Offset, off), nil
}

// seekHole is the end of the allocated ranges running from off, or off
// when it is in a hole.
func seekHole(r *RawFile, off int64) (int64, error) {
	for {
		a, ok, err := nextRange(r, off)
		switch {
		case err != nil:
			return r.size, nil
		case !ok || a.Offset > off:
			return off, nil
		case a.Length <= 0:
			return r.size, nil
		}
		off = a.Offset + a.Length
		if off >= r.size {
			return r.size, nil
		}
	}
}

// winUnsupported sorts a failed control: a filesystem without sparse
// files is ErrUnsupported (zeros are written), anything else an error.
func winUnsupported(what string, err error) error {
	if errors.Is(err, windows.ERROR_INVALID_FUNCTION) || errors.Is(err, windows.ERROR_NOT_SUPPORTED) ||
		errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		return fmt.Errorf("virtio: %s: %w (%w)", what, errors.ErrUnsupported, err)
	}
	return fmt.Errorf("virtio: %s: %w", what, err)
}
