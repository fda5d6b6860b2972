package lklimgcmd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/fdisk"
)

// partOptions are `lklimg part`'s flags.
type partOptions struct {
	script   string // -f FILE; "" for stdin
	quiet    bool
	dump     bool
	size     string
	seed     string
	memoryMB int
}

// partCommand is `lklimg part IMAGE`: sfdisk with a script, through the
// kernel's /dev/vda (tools/fdisk), or --dump as sfdisk --dump.
func partCommand(stdin io.Reader, stdout, stderr io.Writer, status *int) *cli.Command {
	var o partOptions
	return &cli.Command{
		Name:      "part",
		Usage:     "write a partition table from an sfdisk script (stdin or -f), or --dump one as sfdisk --dump",
		ArgsUsage: "IMAGE",
		Description: "The script is sfdisk's (label: gpt|dos, label-id:, first-lba:, last-lba:, table-length:,\n" +
			"then partitions as start=, size=, type=, name=, uuid=, attrs=, bootable or 'start size type bootable').\n" +
			"The table is laid out as sfdisk 2.38 lays it out. Identifiers not given are random, as sfdisk's,\n" +
			"unless --seed or SOURCE_DATE_EPOCH is set: then they are derived from it (same inputs, same bytes).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the script from `FILE`", Destination: &o.script},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors", Destination: &o.quiet},
			&cli.BoolFlag{Name: "dump", Aliases: []string{"d"}, Usage: "print the table as an sfdisk script", Destination: &o.dump},
			&cli.StringFlag{Name: "size", Usage: "make the image `SIZE` bytes first (created sparse, or grown or cut, as truncate -s)", Destination: &o.size},
			&cli.StringFlag{Name: "seed", Usage: "derive the GUIDs and disk identifier not given from `UUID`", Destination: &o.seed},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Usage: "the kernel's memory in `MiB`", Destination: &o.memoryMB},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: lklimg part [options] IMAGE")
			}
			image := c.Args().First()
			var err error
			if o.dump {
				err = partDump(image, o.memoryMB, stdout)
			} else {
				err = part(image, o, stdin, stdout, stderr)
			}
			if err != nil {
				*status = exitFail
			}
			return err
		},
	}
}

// partIDs returns where the identifiers the script leaves out come from:
// --seed's GUID (its 16 bytes in text order), as systemd-repart's --seed;
// else, with SOURCE_DATE_EPOCH set, "SOURCE_DATE_EPOCH=N", a zero byte and
// the script's bytes, so that two scripts made at one time differ; else
// random (fdisk.IDs).
func partIDs(seed string, script []byte, getenv func(string) string) (*fdisk.IDs, error) {
	if seed != "" {
		g, err := gpt.ParseGUID(seed)
		if err != nil {
			return nil, fmt.Errorf("--seed: %w", err)
		}
		text, _ := hex.DecodeString(strings.ReplaceAll(g.String(), "-", ""))
		return fdisk.SeededIDs(text), nil
	}
	if v := getenv("SOURCE_DATE_EPOCH"); v != "" {
		return fdisk.SeededIDs(append([]byte("SOURCE_DATE_EPOCH="+v+"\x00"), script...)), nil
	}
	return fdisk.RandomIDs(), nil
}

// part writes the script's table to image through /dev/vda, re-reads it
// (BLKRRPART) and prints the new table as sfdisk does at its end.
func part(image string, o partOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	in := stdin
	if o.script != "" {
		f, err := os.Open(o.script)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	text, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	script, err := fdisk.Parse(bytes.NewReader(text), func(format string, args ...any) {
		fmt.Fprintf(stderr, "lklimg: part: "+format+"\n", args...)
	})
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	ids, err := partIDs(o.seed, text, os.Getenv)
	if err != nil {
		return err
	}
	opts := kernel.DiskOptions{}
	var size int64 = -1
	if o.size != "" {
		if size, err = parseSize(o.size); err != nil || size <= 0 {
			return fmt.Errorf("--size %s: invalid size", o.size)
		}
		opts.Create, opts.Size = true, size
	}
	d, err := bootDisk(image, o.memoryMB, nil, nil, 0, opts)
	if err != nil {
		return err
	}
	defer d.halt()
	if size > 0 {
		// Grown by DiskOptions.Size; cut here, as truncate -s would.
		if err := d.k.ResizeDisk(d.disk, size); err != nil && !errors.Is(err, abi.EOPNOTSUPP) {
			return fmt.Errorf("%s: %w", image, err)
		}
	}
	diskSize, err := d.size()
	if err != nil {
		return err
	}
	t, err := fdisk.Plan(script, uint64(diskSize)/fdisk.SectorSize, ids)
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	if err := writeTable(d, t); err != nil {
		return err
	}
	if !o.quiet {
		info, err := d.k.PartitionInfo(d.disk)
		if err != nil {
			return err
		}
		nameTypes(&info)
		fmt.Fprintln(stdout, "New situation:")
		printPartitionTable(stdout, stderr, image, info)
		fmt.Fprintln(stdout, "\nThe partition table has been altered.")
	}
	return d.halt()
}

// nameTypes names the types the kernel does not by sfdisk's table.
func nameTypes(info *kernel.PartitionTableInfo) {
	for i := range info.Partitions {
		p := &info.Partitions[i]
		if p.TypeName != "" {
			continue
		}
		if g, err := gpt.ParseGUID(p.TypeGUID); err == nil && info.Label == "gpt" {
			p.TypeName = fdisk.GPTTypeName(g)
		} else {
			p.TypeName = fdisk.DOSTypeName(p.Type)
		}
	}
}

// partDump prints image's table as sfdisk --dump does.
func partDump(image string, memoryMB int, w io.Writer) error {
	d, err := bootDisk(image, memoryMB, nil, nil, 0, kernel.DiskOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer d.halt()
	info, err := d.k.PartitionInfo(d.disk)
	if err != nil {
		return err
	}
	if info.Label == "" {
		return fmt.Errorf("%s: does not contain a recognized partition table", image)
	}
	_, err = io.WriteString(w, dumpScript(image, info))
	return err
}

// dumpScript is the table as sfdisk --dump prints it (util-linux
// sfdisk.c, fdisk_script_write_file): the headers, then one line per
// partition named after the image, as sfdisk names a file's partitions.
func dumpScript(image string, info kernel.PartitionTableInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "label: %s\nlabel-id: %s\ndevice: %s\nunit: sectors\n", info.Label, info.ID, image)
	if info.Label == "gpt" {
		fmt.Fprintf(&b, "first-lba: %d\nlast-lba: %d\n", info.FirstLBA, info.LastLBA)
		if info.TableLength != gpt.DefaultEntries {
			fmt.Fprintf(&b, "table-length: %d\n", info.TableLength)
		}
	}
	if info.Size <= 4<<20 {
		// libfdisk's grain is one sector on small disks.
		fmt.Fprintf(&b, "grain: %d\n", info.SectorSize)
	}
	fmt.Fprintf(&b, "sector-size: %d\n\n", info.SectorSize)
	for _, p := range info.Partitions {
		fmt.Fprintf(&b, "%s%d : start=%12d, size=%12d", image, p.Number, p.Start, p.Sectors)
		if info.Label == "gpt" {
			fmt.Fprintf(&b, ", type=%s, uuid=%s", p.TypeGUID, p.UUID)
			if p.Name != "" {
				fmt.Fprintf(&b, ", name=\"%s\"", dumpQuote(p.Name))
			}
			if a := attrString(p.Attributes); a != "" {
				fmt.Fprintf(&b, ", attrs=\"%s\"", a)
			}
		} else {
			fmt.Fprintf(&b, ", type=%x", p.Type)
			if p.Bootable {
				b.WriteString(", bootable")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// dumpQuote escapes a name as sfdisk's dump does: bytes outside printable
// ASCII, '"' and '\' as \xNN.
func dumpQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// attrString is GPT attribute bits as sfdisk prints them: the names of
// bits 0-2, then "GUID:" and the type-specific bits 48-63, comma-separated.
func attrString(a uint64) string {
	var words []string
	for bit, name := range []string{"RequiredPartition", "NoBlockIOProtocol", "LegacyBIOSBootable"} {
		if a&(1<<bit) != 0 {
			words = append(words, name)
		}
	}
	var guid []string
	for bit := 3; bit < 64; bit++ {
		if a&(1<<bit) != 0 {
			guid = append(guid, fmt.Sprint(bit))
		}
	}
	if len(guid) > 0 {
		words = append(words, "GUID:"+strings.Join(guid, ","))
	}
	return strings.Join(words, " ")
}
