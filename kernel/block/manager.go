package block

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Manager is the kernel's registry of block devices: it names disks as
// virtio_blk does, reads their partition tables (as add_disk does) and
// finds devices by name. It is safe for concurrent use.
type Manager struct {
	cache *Cache
	logf  func(format string, args ...any)

	mu     sync.Mutex
	disks  []*diskEntry // in the order added; guarded by mu
	byName map[string]*Device
	next   int // index of the next disk's name
	closed bool
}

// diskEntry is a disk and what was found on it.
type diskEntry struct {
	dev   *Device
	parts []*Device
	table *Table
}

// NewManager returns a registry whose disks read through cache. logf
// receives the kernel's messages (nil discards them).
func NewManager(cache *Cache, logf func(format string, args ...any)) *Manager {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Manager{cache: cache, logf: logf, byName: make(map[string]*Device)}
}

// diskName returns the name of the disk of index i, as virtio_blk's
// virtblk_name_format: vda..vdz, then vdaa..vdzz, vdaaa...
func diskName(i int) string {
	var b [16]byte
	p := len(b)
	for {
		p--
		b[p] = byte('a' + i%26)
		i = i/26 - 1
		if i < 0 {
			break
		}
	}
	return "vd" + string(b[p:])
}

// partName returns the name of partition n of disk: "vda1", or "nvme0n1p1"
// style with a "p" when the disk's name ends in a digit (disk_name()).
func partName(disk string, n int) string {
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		return disk + "p" + strconv.Itoa(n)
	}
	return disk + strconv.Itoa(n)
}

// AddDisk registers d as the next disk ("vda", "vdb", ...), reads its
// partition table and registers the partitions, logging them as Linux
// does (" vda: vda1 vda2 < vda5 vda6 >"). It returns the whole-disk
// device. A partition table that cannot be read is logged and leaves the
// disk without partitions; it is not an error. Errors: ENXIO after Close.
func (mg *Manager) AddDisk(d Disk) (*Device, error) {
	mg.mu.Lock()
	if mg.closed {
		mg.mu.Unlock()
		return nil, abi.Errorf(abi.ENXIO, "block: manager closed")
	}
	name := diskName(mg.next)
	mg.next++
	mg.mu.Unlock()

	m := mg.cache.attach(d)
	dev := &Device{name: name, m: m, size: m.size, ro: d.ReadOnly()}
	sectors := m.size / SectorSize
	mg.logf("virtio_blk: [%s] %d 512-byte logical blocks (%s/%s)%s", name, sectors,
		humanSize(m.size, 1000, "kMGTPE", "B"), humanSize(m.size, 1024, "KMGTPE", "iB"), roNote(dev.ro))

	e := &diskEntry{dev: dev}
	t, err := ReadTable(dev, m.size, mg.logf)
	if err != nil {
		mg.logf(" %s: unable to read partition table: %v", name, err)
	} else if t != nil {
		e.table = t
		e.parts = mg.partitions(dev, t)
	}

	mg.mu.Lock()
	defer mg.mu.Unlock()
	mg.disks = append(mg.disks, e)
	mg.byName[name] = dev
	for _, p := range e.parts {
		mg.byName[p.name] = p
	}
	return dev, nil
}

func roNote(ro bool) string {
	if ro {
		return " [read-only]"
	}
	return ""
}

// humanSize formats n as virtio_blk's capacity line does (string_get_size):
// three significant digits and a unit.
func humanSize(n int64, base float64, units, suffix string) string {
	f := float64(n)
	u := ""
	for i := 0; f >= base && i < len(units); i++ {
		f /= base
		u = units[i : i+1]
	}
	if u == "" {
		return fmt.Sprintf("%d B", n)
	}
	prec := 2
	if f >= 100 {
		prec = 0
	} else if f >= 10 {
		prec = 1
	}
	return strconv.FormatFloat(f, 'f', prec, 64) + " " + u + suffix
}

// partitions turns table entries into devices, as blk_add_partitions: an
// entry starting beyond the end of the disk is skipped, one running past
// it is cut at the end; an extended partition is a device of two sectors
// (enough for LILO to find its boot record, as Linux registers it). It
// logs the partition line first, as the parsers print it.
func (mg *Manager) partitions(disk *Device, t *Table) []*Device {
	mg.logf("%s", partitionLine(disk.name, t))
	sectors := uint64(disk.size / SectorSize)
	var devs []*Device
	for i := range t.Partitions {
		p := &t.Partitions[i]
		size := p.Sectors
		if p.Extended {
			size = min(size, 2)
		}
		if size == 0 {
			continue
		}
		if p.Start >= sectors {
			mg.logf("%s: p%d start %d is beyond EOD, truncated", disk.name, p.Number, p.Start)
			continue
		}
		if size > sectors-p.Start {
			mg.logf("%s: p%d size %d extends beyond EOD, truncated", disk.name, p.Number, size)
			size = sectors - p.Start
		}
		devs = append(devs, &Device{
			name:   partName(disk.name, p.Number),
			m:      disk.m,
			start:  int64(p.Start) * SectorSize,
			size:   int64(size) * SectorSize,
			ro:     disk.ro,
			parent: disk,
			part:   p,
		})
	}
	return devs
}

// partitionLine returns the line Linux prints for a partitioned disk:
// " vda: vda1 vda2 < vda5 vda6 > vda3", logical partitions between angle
// brackets after their extended partition.
func partitionLine(disk string, t *Table) string {
	var line strings.Builder
	line.WriteString(" " + disk + ":")
	inExt := false
	for _, p := range t.Partitions {
		if inExt && !p.Logical {
			line.WriteString(" >")
			inExt = false
		}
		line.WriteString(" " + partName(disk, p.Number))
		if p.Extended {
			line.WriteString(" <")
			inExt = true
		}
	}
	if inExt {
		line.WriteString(" >")
	}
	if t.Backup {
		line.WriteString(" (backup GPT)")
	}
	return line.String()
}

// trimDev accepts "vda1" and "/dev/vda1".
func trimDev(name string) string { return strings.TrimPrefix(name, "/dev/") }

// Device returns the device called name ("vda1" or "/dev/vda1"). An
// unknown name is ENOENT, as the missing /dev node would be.
func (mg *Manager) Device(name string) (*Device, error) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if d, ok := mg.byName[trimDev(name)]; ok {
		return d, nil
	}
	return nil, abi.Errorf(abi.ENOENT, "block: no device %q", name)
}

// Partitions returns the partitions of disk ("vda" or "/dev/vda") in
// table order (logical partitions after their extended partition); none
// for an unknown disk or one without a table.
func (mg *Manager) Partitions(disk string) []*Device {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for _, e := range mg.disks {
		if e.dev.name == trimDev(disk) {
			return append([]*Device(nil), e.parts...)
		}
	}
	return nil
}

// Table returns the partition table of disk as read when it was added:
// nil for a disk without one, ENOENT for an unknown disk.
func (mg *Manager) Table(disk string) (*Table, error) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for _, e := range mg.disks {
		if e.dev.name == trimDev(disk) {
			return e.table, nil
		}
	}
	return nil, abi.Errorf(abi.ENOENT, "block: no disk %q", disk)
}

// Disks returns the whole-disk devices in the order they were added.
func (mg *Manager) Disks() []*Device {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	devs := make([]*Device, len(mg.disks))
	for i, e := range mg.disks {
		devs[i] = e.dev
	}
	return devs
}

// Close writes back every disk's dirty pages, waits for readahead and
// drops the disks' pages from the cache. Nothing may use the devices
// during or after Close; the disks themselves are the caller's to close.
// It returns the first writeback error.
func (mg *Manager) Close() error {
	mg.mu.Lock()
	disks := mg.disks
	mg.disks, mg.byName, mg.closed = nil, map[string]*Device{}, true
	mg.mu.Unlock()
	var errs []error
	for _, e := range disks {
		if err := e.dev.m.detach(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.dev.name, err))
		}
	}
	return errors.Join(errs...)
}
