package dosfstools

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The cluster counts mkfs.fat allows each FAT type (mkfs.fat.c): a FAT12
// of 4085 or 4086 clusters is refused because Windows takes fewer than
// 4087 for FAT12 where Linux and fatgen take fewer than 4085; FAT32 may
// have fewer than 65525 clusters only when -F 32 asks for it.
const (
	maxClust12 = 4084
	minClust16 = 4087
	maxClust16 = 65524
	minClust32 = 65525
	maxClust32 = 268435446 // 2^28 less the reserved values
)

// mkfsLayout is the volume planned: the boot sector, and what the writer
// needs beyond it.
type mkfsLayout struct {
	boot       fat.BootSector
	bits       int
	sectorSize uint32
	sectors    uint32 // the volume's sectors
	reserved   uint32
	fatLength  uint32
	clusters   uint32
	rootBytes  uint32 // bytes of the root directory mkfs.fat writes
	label      [fat.NameLen]byte
	hasLabel   bool
	time       int64
	timeOffset int
	warnings   []string
}

// mkfsErr is an error of mkfs.fat's, in its words.
func mkfsErr(format string, args ...any) error {
	return abi.Errorf(abi.EINVAL, "mkfs.fat: "+format, args...)
}

// checkOptions refuses what mkfs.fat's option parsing refuses.
func checkOptions(p *MkfsParams) error {
	pow2 := func(v, lo, hi uint32) bool { return v >= lo && v <= hi && v&(v-1) == 0 }
	switch {
	case p.FATBits != 0 && p.FATBits != 12 && p.FATBits != 16 && p.FATBits != 32:
		return mkfsErr("Bad FAT type : %d", p.FATBits)
	case p.SectorSize != 0 && !pow2(p.SectorSize, 512, 32768):
		return mkfsErr("Bad logical sector size : %d", p.SectorSize)
	case p.SecPerClus != 0 && !pow2(p.SecPerClus, 1, 128):
		return mkfsErr("Bad number of sectors per cluster : %d", p.SecPerClus)
	case p.Reserved > 0xFFFF:
		return mkfsErr("Bad number of reserved sectors : %d", p.Reserved)
	case p.RootEntries != 0 && (p.RootEntries < 16 || p.RootEntries > 32768):
		return mkfsErr("Bad number of root directory entries : %d", p.RootEntries)
	case p.NumFATs > 4:
		return mkfsErr("Bad number of FATs : %d", p.NumFATs)
	case p.Media != 0 && !fat.ValidMedia(p.Media):
		return mkfsErr("FAT Media byte must either be between 0xF8 and 0xFF or be 0xF0 : %#x", p.Media)
	case p.Size <= 0:
		return mkfsErr("unable to discover size of the device")
	}
	return nil
}

// planMkfs works the volume out as mkfs.fat 4.2's main, establish_params
// and setup_tables do, with their integer types: the cluster counts are
// unsigned 32-bit and wrap as C's do.
func planMkfs(p MkfsParams) (*mkfsLayout, error) {
	if err := checkOptions(&p); err != nil {
		return nil, err
	}
	l := &mkfsLayout{time: p.Time, timeOffset: p.TimeOffset}
	ss := uint32(512)
	if p.SectorSize != 0 {
		ss = p.SectorSize
	}
	if ss > 4096 {
		l.warnings = append(l.warnings, fmt.Sprintf("Warning: sector size %d > 4096 is non-standard, filesystem may not be usable", ss))
	}
	l.sectorSize = ss
	blocks := uint64(p.Size) / 1024
	orphaned := uint32(uint64(p.Size)%1024) / ss
	bits := p.FATBits
	numFATs := uint32(2)
	if p.NumFATs != 0 {
		numFATs = p.NumFATs
	}
	align := !p.NoAlign

	// establish_params: the geometry, media, first cluster size and root
	// entries for the device.
	heads, spt, media, clusterSize, rootEntries := establishParams(&p, ss)
	if p.Heads != 0 && p.SecPerTrk != 0 { // -g
		heads, spt = p.Heads, p.SecPerTrk
	}
	if bits == 0 && p.Size >= 512<<20 {
		bits = 32 // "Auto-selecting FAT32 for large filesystem"
	}
	if bits == 32 {
		clusterSize = fat32ClusterSize(uint64(p.Size) / uint64(ss))
	}
	hidden := uint32(0)
	switch {
	case p.HiddenGiven:
		hidden = p.Hidden
	case p.Partition != nil && p.Partition.Start <= math.MaxUint32:
		hidden = uint32(p.Partition.Start)
	}
	if p.RootEntries != 0 {
		rootEntries = p.RootEntries
	}

	// setup_tables.
	b := &l.boot
	copy(b.OEMName[:], "mkfs.fat")
	if p.SecPerClus != 0 {
		clusterSize = p.SecPerClus
	}
	if p.Media != 0 {
		media = p.Media
	}
	b.Media = media
	if media == 0xF8 {
		b.DrvNum = 0x80
	}
	if p.DriveGiven {
		b.DrvNum = p.DriveNumber
	}
	if bits == 32 {
		if p.RootEntries != 0 {
			l.warnings = append(l.warnings, "Warning: root directory entries specified with -r have no effect on FAT32")
		}
		rootEntries = 0
	}
	b.VolID = p.VolumeID
	if err := l.setLabel(p.Label); err != nil {
		return nil, err
	}
	reserved := p.Reserved
	if reserved == 0 {
		reserved = 1
		if bits == 32 {
			reserved = 32
		}
	} else if bits == 32 && reserved < 2 {
		return nil, mkfsErr("On FAT32 at least 2 reserved sectors are needed.")
	}
	b.NumFATs = uint8(numFATs)
	b.HiddSec = hidden

	var sectors uint32
	if total := blocks*1024/uint64(ss) + uint64(orphaned); total > math.MaxUint32 {
		l.warnings = append(l.warnings, "Warning: target too large, space at end will be left unused")
		sectors = math.MaxUint32
		blocks = uint64(math.MaxUint32) * uint64(ss) / 1024
	} else {
		sectors = uint32(total)
	}
	if align {
		// Whole tracks, for DOS and mtools.
		sectors = sectors / uint32(spt) * uint32(spt)
	}

	rootDirSectors := cdiv(rootEntries*32, ss)
	if sectors <= 8192 {
		align = false // a floppy-sized volume is never aligned
	}
	alignTo := func(n, to uint32) uint32 {
		if align {
			return (n + to - 1) &^ (to - 1)
		}
		return n
	}
	maxClusterSize := uint32(128)
	if p.SecPerClus != 0 {
		maxClusterSize = p.SecPerClus
	}
	nf := numFATs
	var clust12, clust16, clust32, fatlen12, fatlen16, fatlen32 uint32
	for {
		fatdata32 := sectors - alignTo(reserved, clusterSize)
		fatdata1216 := fatdata32 - alignTo(rootDirSectors, clusterSize)

		// The factor 2 keeps one FAT's 1.5 bytes per cluster whole; the
		// 3, 4 and 8 bytes per FAT are the two reserved entries.
		clust12 = uint32(2 * (int64(fatdata1216)*int64(ss) + int64(nf*3)) / int64(2*clusterSize*ss+nf*3))
		fatlen12 = alignTo(cdiv(((clust12+2)*3+1)>>1, ss), clusterSize)
		// The FATs' unused tails and the data area's may add up to a
		// cluster that is not there: counted again.
		clust12 = (fatdata1216 - nf*fatlen12) / clusterSize
		maxclust12 := min(fatlen12*2*ss/3, maxClust12)
		if clust12 > maxclust12 {
			clust12 = 0
		}

		clust16 = uint32((int64(fatdata1216)*int64(ss) + int64(nf*4)) / int64(clusterSize*ss+nf*2))
		fatlen16 = alignTo(cdiv((clust16+2)*2, ss), clusterSize)
		clust16 = (fatdata1216 - nf*fatlen16) / clusterSize
		maxclust16 := min(fatlen16*ss/2, maxClust16)
		if clust16 > maxclust16 || clust16 < minClust16 {
			clust16 = 0 // too many, or so few it would read as FAT12
		}

		clust32 = uint32((int64(fatdata32)*int64(ss) + int64(nf*8)) / int64(clusterSize*ss+nf*4))
		fatlen32 = alignTo(cdiv((clust32+2)*4, ss), clusterSize)
		clust32 = (fatdata32 - nf*fatlen32) / clusterSize
		maxclust32 := min(fatlen32*ss/4, maxClust32)
		if clust32 > maxclust32 || clust32 < minClust32 && !(p.FATBits == 32) {
			clust32 = 0
		}

		if clust12 != 0 && (bits == 0 || bits == 12) || clust16 != 0 && (bits == 0 || bits == 16) ||
			clust32 != 0 && bits == 32 {
			break
		}
		clusterSize = uint32(uint8(clusterSize << 1)) // BPB_SecPerClus is a byte: 128 doubles to 0
		if clusterSize == 0 || clusterSize > maxClusterSize {
			break
		}
	}
	if bits == 0 {
		bits = 12
		if clust16 > clust12 {
			bits = 16
		}
	}
	b.SecPerClus = uint8(clusterSize)
	var fsType string
	switch bits {
	case 12:
		l.clusters, l.fatLength, fsType = clust12, fatlen12, "FAT12   "
		b.FATSz16 = uint16(fatlen12)
	case 16:
		l.clusters, l.fatLength, fsType = clust16, fatlen16, "FAT16   "
		b.FATSz16 = uint16(fatlen16)
	case 32:
		if clust32 < minClust32 {
			l.warnings = append(l.warnings, "WARNING: Number of clusters for 32 bit FAT is less then suggested minimum.")
		}
		l.clusters, l.fatLength, fsType = clust32, fatlen32, "FAT32   "
		b.FATSz32 = fatlen32
		rootEntries = 0
	}
	copy(b.FilSysType[:], fsType)
	l.bits = bits
	reserved = alignTo(reserved, clusterSize)
	b.RsvdSecCnt = uint16(reserved)
	if align {
		rootEntries = alignTo(rootDirSectors, clusterSize) * (ss >> 5)
	}
	b.BytsPerSec = uint16(ss)
	b.RootEntCnt = uint16(rootEntries)
	// The jump over the BPB to the boot code (format/fat's PutBootCode).
	b.JmpBoot = [3]byte{0xEB, fat.BootCodeOffset16 - 2, 0x90}
	if bits == 32 {
		b.JmpBoot[1] = fat.BootCodeOffset32 - 2
		b.RootClus = fat.FirstCluster
		b.FSInfo = 1
		backup := backupBootSector(reserved, uint32(b.FSInfo))
		if p.BackupGiven {
			backup = uint32(p.BackupBoot)
		}
		switch {
		case backup == 0:
		case backup == uint32(b.FSInfo):
			return nil, mkfsErr("Backup boot sector must not be same as info sector (%d)", b.FSInfo)
		case backup >= reserved:
			return nil, mkfsErr("Backup boot sector must be a reserved sector")
		}
		b.BkBootSec = uint16(backup)
	}
	if sectors >= 65536 {
		b.TotSec32 = sectors
	} else {
		b.TotSec16 = uint16(sectors)
	}
	b.SecPerTrk, b.NumHeads = spt, heads
	b.BootSig = fat.BootSig
	if l.clusters == 0 {
		if p.SecPerClus != 0 {
			return nil, mkfsErr("Not enough or too many clusters for filesystem - try less or more sectors per cluster")
		}
		return nil, mkfsErr("Attempting to create a too small or a too large filesystem")
	}
	// The data area's start in 512-byte sectors, then in 1 KiB blocks:
	// 32 blocks of data at least.
	startData := (int64(reserved) + int64(numFATs)*int64(l.fatLength) + int64(cdiv(uint32(b.RootEntCnt)*32, ss))) *
		int64(ss/512)
	if blocks < uint64((startData+1)/2+32) {
		return nil, mkfsErr("Too few blocks for viable filesystem")
	}
	l.sectors, l.reserved = sectors, reserved
	l.rootBytes = uint32(b.RootEntCnt) * fat.DirEntrySize
	if bits == 32 {
		l.rootBytes = clusterSize * ss
	}
	return l, nil
}

// establishParams is mkfs.fat's establish_params for a device without a
// BIOS geometry (HDIO_GETGEO: a regular file, a loop device): the heads
// and sectors per track of the SD card specification below 256 MiB and of
// LBA-assist translation above; a floppy's geometry, media, cluster and
// root directory for a regular file of a floppy's size; else media 0xF8,
// 4 sectors per cluster to start from, 512 root entries.
func establishParams(p *MkfsParams, ss uint32) (heads, spt uint16, media uint8, clusterSize, rootEntries uint32) {
	total := uint64(p.Size) / uint64(ss)
	if p.Partition != nil && p.Partition.DiskSectors > 0 {
		total = p.Partition.DiskSectors
	}
	if total <= 524288 {
		switch {
		case total <= 32768:
			heads = 2
		case total <= 65536:
			heads = 4
		case total <= 262144:
			heads = 8
		default:
			heads = 16
		}
		spt = 32
		if total <= 4096 {
			spt = 16
		}
	} else {
		switch {
		case total <= 16*63*1024:
			heads = 16
		case total <= 32*63*1024:
			heads = 32
		case total <= 64*63*1024:
			heads = 64
		case total <= 128*63*1024:
			heads = 128
		default:
			heads = 255
		}
		spt = 63
	}
	media, clusterSize, rootEntries = 0xF8, 4, 512
	if p.Partition != nil {
		return // a fixed disk's
	}
	switch p.Size / 1024 { // the standard floppies, by their KiB
	case 360:
		spt, heads, media, clusterSize, rootEntries = 9, 2, 0xFD, 2, 112
	case 720:
		spt, heads, media, clusterSize, rootEntries = 9, 2, 0xF9, 2, 112
	case 1200:
		spt, heads, media, clusterSize, rootEntries = 15, 2, 0xF9, 1, 224
	case 1440:
		spt, heads, media, clusterSize, rootEntries = 18, 2, 0xF0, 1, 224
	case 2880:
		spt, heads, media, clusterSize, rootEntries = 36, 2, 0xF0, 2, 224
	}
	return
}

// fat32ClusterSize is the sectors per cluster mkfs.fat starts from for
// FAT32, after the table of Microsoft's format (fatgen §3.5): 512-byte
// clusters up to 260 MiB, 4 KiB up to 8 GiB, 8 KiB to 16 GiB, 16 KiB to
// 32 GiB, 32 KiB above (counted in sectors of the sector size given, so
// in 512-byte units only with 512-byte sectors).
func fat32ClusterSize(sectors uint64) uint32 {
	switch {
	case sectors > 32*1024*1024*2:
		return 64
	case sectors > 16*1024*1024*2:
		return 32
	case sectors > 8*1024*1024*2:
		return 16
	case sectors > 260*1024*2:
		return 8
	}
	return 1
}

// backupBootSector is where mkfs.fat puts the FAT32 backup boot sector
// unless -b says: 6 (fatgen §3.3) when there is room, else the last or
// second-last reserved sector not the FSInfo one, else none (0).
func backupBootSector(reserved, info uint32) uint32 {
	switch {
	case reserved >= 7 && info != 6:
		return 6
	case reserved >= 3+info && info != reserved-2 && info != reserved-1:
		return reserved - 2
	case reserved >= 3 && info != reserved-1:
		return reserved - 1
	}
	return 0
}

// setLabel checks -n as mkfs.fat does and keeps it space padded: at most
// 11 characters, none below 0x20 (which, mkfs.fat's bytes being signed,
// takes in every byte not ASCII), none of fatgen's illegal ones, no
// leading space; lower case is kept, with a warning. "" or spaces is no
// label.
func (l *mkfsLayout) setLabel(label string) error {
	if utf8.RuneCountInString(label) > fat.NameLen {
		return mkfsErr("Label can be no longer than 11 characters")
	}
	name := fat.NoName
	if strings.Trim(label, " ") != "" {
		if len(label) > fat.NameLen {
			// Characters, not bytes: non-ASCII, refused below.
			label = label[:fat.NameLen]
		}
		copy(name[:], label+strings.Repeat(" ", fat.NameLen-len(label)))
		l.hasLabel = name != fat.NoName
	}
	var lower, low, illegal bool
	for _, c := range name {
		lower = lower || c >= 'a' && c <= 'z'
		low = low || c < 0x20 || c >= 0x80
		illegal = illegal || c >= 0x20 && c < 0x80 && fat.IllegalNameByte(c)
	}
	if lower {
		l.warnings = append(l.warnings, "mkfs.fat: Warning: lowercase labels might not work properly on some systems")
	}
	switch {
	case low:
		return mkfsErr("Labels with characters below 0x20 are not allowed")
	case illegal:
		return mkfsErr("Labels with characters *?.,;:/\\|+=<>[]\" are not allowed")
	case name[0] == ' ':
		return mkfsErr("Label can't start with a space character")
	}
	l.label = name
	copy(l.boot.VolLab[:], name[:])
	return nil
}

// cdiv is mkfs.fat's ceil(a/b) on C ints (a is an unsigned count it
// converts, and may wrap).
func cdiv(a, b uint32) uint32 {
	return uint32((int32(a) + int32(b) - 1) / int32(b))
}
