package fat

// The volume label (fatgen §3.2 BS_VolLab, §6 ATTR_VOLUME_ID): 11 bytes
// in the OEM code page, space padded, kept twice: in the extended BPB and
// as an entry of the root directory with AttrVolumeID and no cluster.
// Linux and mtools read the root directory's (fat_ioctl_get_volume_label,
// mlabel); blkid reads both. A volume without a label has "NO NAME    "
// in the BPB and no entry.

// NoName is BS_VolLab of a volume without a label.
var NoName = [NameLen]byte{'N', 'O', ' ', 'N', 'A', 'M', 'E', ' ', ' ', ' ', ' '}

// IllegalNameByte reports whether c may not appear in a short name or a
// label (fatgen §6.1: below 0x20, and " * + , . / : ; < = > ? [ \ ] |).
// The dot is legal in a directory entry only as the implied separator,
// never stored.
func IllegalNameByte(c byte) bool {
	switch {
	case c < 0x20, c == 0x22, c >= 0x2A && c <= 0x2C, c == 0x2E, c == 0x2F,
		c >= 0x3A && c <= 0x3F, c >= 0x5B && c <= 0x5D, c == 0x7C:
		return true
	}
	return false
}

// LabelEntry returns the root directory entry of a volume label, its
// dates and times all date and tm (fatgen §6.3; the hundredths zero), no
// cluster and no size. A first byte 0xE5 is stored as DirEntKanji.
func LabelEntry(label [NameLen]byte, date, tm uint16) DirEntry {
	d := DirEntry{Name: label, Attr: AttrVolumeID, CrtTime: tm, CrtDate: date, LstAccDate: date,
		WrtTime: tm, WrtDate: date}
	if d.Name[0] == DirEntFree {
		d.Name[0] = DirEntKanji
	}
	return d
}
