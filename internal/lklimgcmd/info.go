package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/urfave/cli/v2"
)

// infoCommand is `lklimg info IMAGE`: what the disk holds. Unlike the
// other subcommands it does not need one filesystem chosen: it shows the
// partition table, then each device's filesystem (every partition's, or
// -P's only).
func infoCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var disk cliflags.Disk
	return &cli.Command{
		Name:      "info",
		Usage:     "show the partition table and each filesystem's type, size and free space",
		ArgsUsage: "IMAGE",
		Flags:     disk.Flags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: lklimg info [options] IMAGE")
			}
			disk.LimitHeap(os.Getenv)
			var err error
			*status, err = info(&disk, c.Args().First(), stdout, stderr)
			return err
		},
	}
}

// info boots a kernel on image (read-only), prints its partition table
// and, for the whole disk or each partition, the filesystem found on it
// and its statfs(2) figures. A device without a filesystem says so; an
// error mounting one is reported and makes the status 1.
func info(d *cliflags.Disk, image string, stdout, stderr io.Writer) (int, error) {
	cfg := kernel.Config{Memory: int64(d.MemoryMB) << 20}
	if d.Printk {
		cfg.Printk = stderr
	}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return 0, fmt.Errorf("boot: %w", err)
	}
	defer k.Halt()
	dev, err := k.AddDisk(image, kernel.DiskOptions{ReadOnly: true})
	if err != nil {
		return 0, cliflags.AddDiskError(image, true, err)
	}
	label, parts, err := k.PartitionTable(dev)
	if err != nil {
		return 0, fmt.Errorf("%s: partition table: %w", image, err)
	}
	table, err := k.PartitionInfo(dev)
	if err != nil {
		return 0, fmt.Errorf("%s: partition table: %w", image, err)
	}
	printPartitionTable(stdout, stderr, image, table)
	devs := []string{dev}
	if label != "" {
		// A filesystem on the whole disk is shown too: a FAT boot
		// sector ends like an MBR.
		devs = append(devs, parts...)
	}
	if d.Partition > 0 {
		devs = []string{dev + strconv.Itoa(d.Partition)}
	}
	status := exitOK
	for _, dv := range devs {
		if dv != dev {
			fmt.Fprintf(stdout, "\nPartition %s (%s)\n", strings.TrimPrefix(dv, dev), dv)
		} else if label == "" || d.Partition > 0 {
			fmt.Fprintf(stdout, "\nWhole disk (%s)\n", dv)
		}
		if err := showFilesystem(k, d, dv, stdout); err != nil {
			if dv == dev && label != "" && errors.Is(err, abi.ENODEV) {
				continue // the table is what the disk holds
			}
			if errors.Is(err, abi.ENODEV) {
				fmt.Fprintf(stdout, "  Filesystem: none found\n")
				continue
			}
			fmt.Fprintf(stderr, "lklimg: %s: %s: %s\n", image, dv, strerror(err))
			status = exitFail
		}
	}
	return status, nil
}

// showFilesystem mounts dev read-only (with -t's type, or the one probed)
// and prints its statfs(2) figures in bytes.
func showFilesystem(k *kernel.Kernel, d *cliflags.Disk, dev string, w io.Writer) error {
	fstype := d.FSType
	if fstype == "" {
		t, err := k.Probe(dev)
		if err != nil {
			return err
		}
		fstype = t
	}
	dir, err := k.MountDev(dev, fstype, abi.MS_RDONLY, d.MountData())
	if err != nil {
		return err
	}
	defer k.Umount(dir, 0)
	var st abi.Statfs
	if err := k.Statfs(dir, &st); err != nil {
		return err
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	fmt.Fprintf(w, "  Filesystem: %s\n", fstype)
	fmt.Fprintf(w, "  Block size: %d\n", bs)
	fmt.Fprintf(w, "  Size:       %d bytes (%d blocks)\n", st.Blocks*bs, st.Blocks)
	fmt.Fprintf(w, "  Free:       %d bytes (%d blocks; %d available to users)\n", st.Bfree*bs, st.Bfree, st.Bavail)
	fmt.Fprintf(w, "  Inodes:     %d (%d free)\n", st.Files, st.Ffree)
	return nil
}
