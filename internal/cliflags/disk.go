// Package cliflags defines the command-line flags the commands share (-P,
// -t, -m, -p) once, and what they mean: booting the kernel and mounting
// the chosen filesystem of an image.
package cliflags

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// Disk holds the flags that say which filesystem of an image to use and
// how to boot the kernel for it, as LKL's tools spell them.
type Disk struct {
	// Partition is the partition number (-P); 0 means the whole disk.
	Partition int
	// FSType is the filesystem type (-t); empty means probe it.
	FSType string
	// MemoryMB is the kernel's memory in MiB (-m).
	MemoryMB int
	// Printk sends the kernel log to stderr (-p).
	Printk bool
	// NoJournal mounts without loading the journal (--no-journal): a
	// filesystem that needs recovery is read as the device holds it,
	// without replaying its journal, as Linux's "noload" mount option.
	NoJournal bool
	// Data is more of the filesystem's mount options, comma-separated
	// (lklfuse's opts=).
	Data string
	// Format is the image file's format (-f, --image-format, as
	// qemu-img's -f): "raw", "qcow2", "vmdk", "vpc", "vhdx", "android-sparse"; empty probes it.
	Format string
	// Devices are more image files (--device, repeated), attached as
	// further disks (vdb, vdc, ...) before the mount: the other devices
	// of a filesystem over several (btrfs), which Linux finds by their
	// superblocks once they are attached (or named by device=).
	Devices []string
}

// MountData returns the filesystem-specific mount options (mount(2)'s
// data string) the flags ask for.
func (d *Disk) MountData() string {
	var opts []string
	if d.NoJournal {
		opts = append(opts, "noload")
	}
	if d.Data != "" {
		opts = append(opts, d.Data)
	}
	return strings.Join(opts, ",")
}

// Flags returns the flag definitions, bound to d.
func (d *Disk) Flags() []cli.Flag {
	return []cli.Flag{
		PartitionFlag(&d.Partition),
		&cli.StringFlag{Name: "filesystem-type", Aliases: []string{"t"}, Destination: &d.FSType,
			Usage: "filesystem `TYPE` (" + kernel.FilesystemTypesHelp() + "); probed when not given"},
		&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Destination: &d.MemoryMB,
			Usage: "kernel memory in `MB` (page cache and queues live in it)"},
		&cli.BoolFlag{Name: "enable-printk", Aliases: []string{"p"}, Destination: &d.Printk,
			Usage: "show the kernel log on stderr"},
		&cli.BoolFlag{Name: "no-journal", Destination: &d.NoJournal,
			Usage: "do not replay the journal of a filesystem that needs recovery (mount option noload)"},
		&cli.StringFlag{Name: "image-format", Aliases: []string{"f"}, Destination: &d.Format,
			Usage: "the image file's `FORMAT` (raw, qcow2, vmdk, vpc, vhdx, android-sparse); probed when not given. IMAGE may be an NBD export, nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH, read as raw"},
		&cli.StringSliceFlag{Name: "device", Action: func(_ *cli.Context, v []string) error { d.Devices = v; return nil },
			Usage: "attach `IMAGE` too, as a further disk: another device of a filesystem over several (btrfs RAID1, ...); repeat for each"},
		// No letter: -o is cptofs's owner. FAT's owners and modes are
		// mount options (uid=, gid=, umask=...), as with Linux's mount -o.
		&cli.StringFlag{Name: "mount-options", Destination: &d.Data,
			Usage: "more mount `OPTIONS`, comma-separated, as mount -o takes them (vfat: uid=, gid=, umask=, fmask=, dmask=, showexec, shortname=, codepage=...; iso9660: norock, nojoliet, map=, check=, uid=, gid=, mode=, dmode=...; btrfs: subvol=PATH, subvolid=N)"},
	}
}

// PartitionFlag is -P N alone, for the commands that make a filesystem
// (mkfs, tar2fs), whose other letters are mke2fs's.
func PartitionFlag(n *int) cli.Flag {
	return &cli.IntFlag{Name: "partition", Aliases: []string{"P"}, Destination: n,
		Usage: "use partition `N` of a partitioned disk (0: the whole disk)"}
}

// PartitionDevice returns the device of partition n of disk ("vda2"),
// attached from image, or disk itself for n 0. Errors say what is wrong
// for a person: a negative n, a disk without a partition table, a
// partition it does not have (listing those it has).
func PartitionDevice(k *kernel.Kernel, image, disk string, n int) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("-P %d: a partition number is 1 or more (0: the whole disk)", n)
	}
	if n == 0 {
		return disk, nil
	}
	parts, err := k.Partitions(disk)
	if err != nil {
		return "", fmt.Errorf("%s: partition table: %w", image, err)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%s: -P %d: the disk has no partition table", image, n)
	}
	dev := disk + strconv.Itoa(n)
	if !slices.Contains(parts, dev) {
		return "", fmt.Errorf("%s: -P %d: no such partition (the disk has %s)", image, n, partList(disk, parts))
	}
	return dev, nil
}

// Mounted is an image's filesystem mounted in a booted kernel.
type Mounted struct {
	Kernel *kernel.Kernel
	// Dir is the mount point in the kernel.
	Dir string
	// Device is the block device mounted ("vda", "vda2") and FSType its
	// filesystem type.
	Device, FSType string
}

// Mount boots a kernel (its log to printk when -p is set), attaches image
// (read-only if readOnly: the file is then never written), chooses the
// device by -P and mounts it by -t or by probing. Errors name the image
// and say what to do; the kernel is halted on an error.
//
// With -P 0 on a partitioned disk, the whole disk is used only if it holds
// a filesystem itself; otherwise the error lists the partitions.
func (d *Disk) Mount(image string, readOnly bool, printk io.Writer) (*Mounted, error) {
	if d.Partition < 0 {
		return nil, fmt.Errorf("-P %d: a partition number is 1 or more (0: the whole disk)", d.Partition)
	}
	if d.MemoryMB <= 0 {
		return nil, fmt.Errorf("-m %d: the kernel needs some memory", d.MemoryMB)
	}
	cfg := kernel.Config{Memory: int64(d.MemoryMB) << 20}
	if d.Printk {
		cfg.Printk = printk
	}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	m, err := d.mount(k, image, readOnly)
	if err != nil {
		k.Halt()
		return nil, err
	}
	return m, nil
}

func (d *Disk) mount(k *kernel.Kernel, image string, readOnly bool) (*Mounted, error) {
	if d.FSType != "" {
		if _, err := k.FilesystemType(d.FSType); err != nil {
			return nil, fmt.Errorf("-t %s: unknown filesystem type (this kernel reads %s)",
				d.FSType, strings.Join(k.Filesystems(), ", "))
		}
	}
	disk, err := k.AddDisk(image, kernel.DiskOptions{ReadOnly: readOnly, Format: d.Format})
	if err != nil {
		return nil, AddDiskError(image, readOnly, err)
	}
	dev, err := PartitionDevice(k, image, disk, d.Partition)
	if err != nil {
		return nil, err
	}
	for _, more := range d.Devices {
		if _, err := k.AddDisk(more, kernel.DiskOptions{ReadOnly: readOnly, Format: d.Format}); err != nil {
			return nil, AddDiskError(more, readOnly, err)
		}
	}
	parts, err := k.Partitions(disk)
	if err != nil {
		return nil, fmt.Errorf("%s: partition table: %w", image, err)
	}
	switch {
	case d.Partition > 0:
	case len(parts) > 0 && d.FSType == "":
		// A filesystem on the whole disk wins over a table that only
		// looks like one (a FAT boot sector ends like an MBR).
		if _, err := k.Probe(disk); err != nil {
			label, _, _ := k.PartitionTable(disk)
			return nil, fmt.Errorf("%s: %s disk with %s: choose one with -P N",
				image, tableName(label), partCount(disk, parts))
		}
	}
	fstype := d.FSType
	if fstype == "" {
		fstype, err = k.Probe(dev)
		if errors.Is(err, abi.ENODEV) && dev == disk {
			return nil, fmt.Errorf("%s: not a filesystem this kernel reads (%s): %s", image,
				strings.Join(k.Filesystems(), ", "), describe(k, disk))
		}
		if errors.Is(err, abi.ENODEV) {
			return nil, fmt.Errorf("%s: no filesystem found on %s (an empty partition, or a type this kernel does not read: it reads %s)",
				image, dev, strings.Join(k.Filesystems(), ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: probe %s: %w", image, dev, err)
		}
	}
	var flags uint64
	if readOnly {
		flags = abi.MS_RDONLY
	}
	dir, err := k.MountDev(dev, fstype, flags, d.MountData())
	if err != nil {
		return nil, fmt.Errorf("%s: mount %s (%s): %w", image, dev, fstype, err)
	}
	return &Mounted{Kernel: k, Dir: dir, Device: dev, FSType: fstype}, nil
}

// tableName names a partition table label for a person: "a GPT", "an
// MBR (dos)".
func tableName(label string) string {
	switch label {
	case "gpt":
		return "a GPT"
	case "dos":
		return "an MBR (dos)"
	case "":
		return "a partitioned"
	}
	return "a " + label
}

// AddDiskError says why the kernel could not attach image (AddDisk's
// error) for a person, naming the image once: "no such file or
// directory", "cannot read the image: permission denied", "is a
// directory, not a disk image", or, for an image format the kernel has no
// backend for, which it is and how to convert it. The errno stays
// reachable for errors.Is.
func AddDiskError(image string, readOnly bool, err error) error {
	access := "write"
	if readOnly {
		access = "read"
	}
	var why string
	switch abi.ErrnoOf(err) {
	case abi.ENOENT:
		why = "no such file or directory"
	case abi.ENOTDIR:
		why = "not a directory"
	case abi.EISDIR:
		why = "is a directory, not a disk image"
	case abi.EACCES, abi.EPERM:
		why = "cannot " + access + " the image: permission denied"
	case abi.EMEDIUMTYPE:
		var e *abi.Error
		if errors.As(err, &e) {
			why = e.Detail
		}
	}
	if why == "" {
		return fmt.Errorf("%s: %w", image, err)
	}
	return &imageError{msg: image + ": " + why, err: err}
}

// imageError is a message for a person over the kernel's error.
type imageError struct {
	msg string
	err error
}

func (e *imageError) Error() string { return e.msg }
func (e *imageError) Unwrap() error { return e.err }

// partCount says how many partitions there are, and which: "1 partition
// (2)", "3 partitions (1, 2 and 5)".
func partCount(disk string, parts []string) string {
	list := partList(disk, parts)
	if len(parts) == 1 {
		return "1 partition (" + strings.TrimPrefix(list, "partition ") + ")"
	}
	return fmt.Sprintf("%d partitions (%s)", len(parts), strings.TrimPrefix(list, "partitions "))
}

// partList shows partition names as their numbers: "1, 2 and 5".
func partList(disk string, parts []string) string {
	nums := make([]string, len(parts))
	for i, p := range parts {
		nums[i] = strings.TrimPrefix(p, disk)
	}
	if len(nums) == 1 {
		return "partition " + nums[0]
	}
	return "partitions " + strings.Join(nums[:len(nums)-1], ", ") + " and " + nums[len(nums)-1]
}

// ReadOnlyReason says why a filesystem mounted read-write refuses writes
// (the driver keeps such a mount read-only and logs why: an unknown
// feature, errors), or "" when it is writable.
func (m *Mounted) ReadOnlyReason() string {
	var st abi.Statfs
	if err := m.Kernel.Statfs(m.Dir, &st); err != nil || st.Flags&abi.MS_RDONLY == 0 {
		return ""
	}
	why := "the driver mounted it read-only"
	for _, line := range strings.Split(m.Kernel.Dmesg(), "\n") {
		// The driver's reason, or the kernel's for a disk that takes no
		// writes (a read-only NBD export): "vda: write-protected, ...".
		if (strings.Contains(line, "mounting read-only") || strings.Contains(line, "write-protected")) && strings.Contains(line, m.Device) {
			if _, msg, ok := strings.Cut(line, "] "); ok { // after printk's "[    0.006421] "
				line = msg
			}
			why = strings.TrimSpace(line)
		}
	}
	return why
}
