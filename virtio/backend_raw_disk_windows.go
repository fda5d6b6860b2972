package virtio

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The disk ioctls of <winioctl.h> that size a Windows disk.
const (
	ioctlDiskGetDriveGeometry = 0x00070000 // IOCTL_DISK_GET_DRIVE_GEOMETRY
	ioctlDiskGetLengthInfo    = 0x0007405C // IOCTL_DISK_GET_LENGTH_INFO
)

// diskGeometry is DISK_GEOMETRY (winioctl.h).
type diskGeometry struct {
	Cylinders                                          int64
	MediaType                                          uint32
	TracksPerCylinder, SectorsPerTrack, BytesPerSector uint32
}

// hostDisk sizes a Windows disk named by its device path
// (\\.\PhysicalDriveN, or a volume \\.\X:), which os.File.Stat cannot:
// IOCTL_DISK_GET_LENGTH_INFO for its length, and
// IOCTL_DISK_GET_DRIVE_GEOMETRY for its sector size, to which every
// read and write is aligned. Another path is not one (ok false).
func hostDisk(f *os.File, path string) (size, sector int64, ok bool, err error) {
	if !strings.HasPrefix(path, `\\.\`) && !strings.HasPrefix(path, `//./`) {
		return 0, 0, false, nil
	}
	h := windows.Handle(f.Fd())
	var length int64 // GET_LENGTH_INFORMATION
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlDiskGetLengthInfo, nil, 0,
		(*byte)(unsafe.Pointer(&length)), uint32(unsafe.Sizeof(length)), &n, nil); err != nil {
		return 0, 0, false, fmt.Errorf("virtio: %s: IOCTL_DISK_GET_LENGTH_INFO: %w", path, err)
	}
	var g diskGeometry
	if err := windows.DeviceIoControl(h, ioctlDiskGetDriveGeometry, nil, 0,
		(*byte)(unsafe.Pointer(&g)), uint32(unsafe.Sizeof(g)), &n, nil); err != nil {
		return 0, 0, false, fmt.Errorf("virtio: %s: IOCTL_DISK_GET_DRIVE_GEOMETRY: %w", path, err)
	}
	bs := int64(g.BytesPerSector)
	if bs == 0 || bs&(bs-1) != 0 || length < 0 {
		return 0, 0, false, fmt.Errorf("virtio: %s: a disk of %d bytes in sectors of %d", path, length, bs)
	}
	return length, bs, true, nil
}
