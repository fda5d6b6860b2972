package lklimgcmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel"
)

// printPartitionTable prints the disk and its partition table as
// `sfdisk -l` (util-linux fdisk-list.c) does, for the image file image:
// the Disk line, the units, the label and identifier, then one line per
// partition; warnings go to warn. Differences from sfdisk: the Device
// column names the kernel's devices (vda1, the names -P and the sections
// below use), not IMAGE1; a type the kernel does not name (it knows the
// common ones) is "unknown", where fdisk may have a name for it; the I/O
// size line, a property of the host's device, is left out.
func printPartitionTable(w, warn io.Writer, image string, info kernel.PartitionTableInfo) {
	fmt.Fprintf(w, "Disk %s: %s, %d bytes, %d sectors\n", image, humanSize(info.Size, true), info.Size, info.Sectors)
	fmt.Fprintf(w, "Units: sectors of 1 * %d = %d bytes\n", info.SectorSize, info.SectorSize)
	fmt.Fprintf(w, "Sector size (logical/physical): %d bytes / %d bytes\n", info.SectorSize, info.SectorSize)
	if info.Label == "" {
		return
	}
	fmt.Fprintf(w, "Disklabel type: %s\n", info.Label)
	fmt.Fprintf(w, "Disk identifier: %s\n", info.ID)
	if info.Backup {
		// sfdisk's warning, on stderr as sfdisk prints it.
		fmt.Fprintf(warn, "lklimg: %s: the primary GPT table is corrupt, but the backup appears OK, so that will be used.\n", image)
	}
	if len(info.Partitions) == 0 {
		return
	}
	dos := info.Label == "dos"
	// The columns and their width hints, as libfdisk's gpt_fields and
	// dos_fields (the Type column's hint is relative: none here).
	header := []string{"Device", "Start", "End", "Sectors", "Size", "Type"}
	hints := []int{10, 5, 5, 5, 5, 0}
	if dos {
		header = []string{"Device", "Boot", "Start", "End", "Sectors", "Size", "Id", "Type"}
		hints = []int{10, 1, 5, 5, 5, 5, 2, 0}
	}
	rows := [][]string{header}
	for _, p := range info.Partitions {
		row := []string{p.Device}
		if dos {
			boot := ""
			if p.Bootable {
				boot = "*"
			}
			row = append(row, boot)
		}
		row = append(row, strconv.FormatUint(p.Start, 10), strconv.FormatUint(p.End(), 10),
			strconv.FormatUint(p.Sectors, 10), humanSize(p.Size, false))
		if dos {
			row = append(row, strconv.FormatUint(uint64(p.Type), 16))
		}
		typ := p.TypeName
		if typ == "" {
			// fdisk's word for a type it has no name for; the kernel
			// names fewer types than fdisk.
			typ = "unknown"
		}
		rows = append(rows, append(row, typ))
	}
	fmt.Fprintln(w)
	writeColumns(w, rows, hints, dos)
	// As fdisk_table_wrong_order: a partition starting before the one
	// numbered before it.
	for i := 1; i < len(info.Partitions); i++ {
		if info.Partitions[i].Start < info.Partitions[i-1].Start {
			fmt.Fprintf(w, "\nPartition table entries are not in disk order.\n")
			break
		}
	}
}

// writeColumns prints rows (the header first) as columns one space
// apart: the device, boot flag and type names left-aligned, the numbers
// right-aligned; the last column is not padded. A column's width is as
// libsmartcols computes it for output that is not a terminal
// (count_column_width): the widest cell below the header; at least the
// header; and the hint instead when the widest cell is at least the
// header but narrower than the hint.
func writeColumns(w io.Writer, rows [][]string, hints []int, dos bool) {
	widths := make([]int, len(rows[0]))
	for i, h := range rows[0] {
		for _, r := range rows[1:] {
			widths[i] = max(widths[i], len(r[i]))
		}
		if widths[i] < len(h) {
			widths[i] = len(h)
		} else if widths[i] < hints[i] {
			widths[i] = hints[i]
		}
	}
	left := func(i int) bool { return i == 0 || i == len(widths)-1 || (dos && i == 1) }
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i > 0 {
				line.WriteByte(' ')
			}
			pad := strings.Repeat(" ", widths[i]-len(c))
			switch {
			case i == len(r)-1:
				line.WriteString(c)
			case left(i):
				line.WriteString(c + pad)
			default:
				line.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, line.String())
	}
}

// humanSize formats n bytes as util-linux's size_to_human_string: the
// largest binary unit below n, one decimal rounded and left out when it
// is zero; "12 MiB" in the Disk line (long), "12M" in the table.
func humanSize(n int64, long bool) string {
	const letters = "BKMGTPE"
	b := uint64(max(n, 0))
	exp := 0
	for exp < 60 && b >= 1<<(exp+10) {
		exp += 10
	}
	dec, frac := b>>exp, b&(1<<exp-1)
	if frac != 0 {
		// Three digits after the point, then rounded to one.
		if frac >= ^uint64(0)/1000 {
			frac = frac / 1024 * 1000 / (1 << (exp - 10))
		} else {
			frac = frac * 1000 / (1 << exp)
		}
		frac = (frac + 50) / 100
		if frac == 10 {
			dec, frac = dec+1, 0
		}
	}
	suffix := letters[exp/10 : exp/10+1]
	if long {
		if exp > 0 {
			suffix += "iB"
		}
		suffix = " " + suffix
	}
	if frac != 0 {
		return fmt.Sprintf("%d.%d%s", dec, frac, suffix)
	}
	return fmt.Sprintf("%d%s", dec, suffix)
}
