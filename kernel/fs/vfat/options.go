package vfat

import (
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount options (Documentation/filesystems/vfat.rst; parse_options in
// fs/fat/inode.c). The defaults are those of a Debian kernel mounted by
// root with umask 022: CONFIG_FAT_DEFAULT_CODEPAGE=437,
// CONFIG_FAT_DEFAULT_IOCHARSET="ascii", CONFIG_FAT_DEFAULT_UTF8=y,
// shortname=mixed.
type options struct {
	uid, gid     uint32
	fmask, dmask uint32 // permission bits taken away from files, directories
	allowUtime   uint32 // permission bits of others who may set times (allow_utime)
	allowUtimeOK bool   // allow_utime was given
	codepage     *charmap.Charmap
	codepageName string
	utf8         bool   // names as UTF-8 (utf8, or iocharset=utf8)
	iocharset    string // names without utf8, and case folding: ascii, iso8859-1 or utf8
	shortname    int    // shortnameLower ... shortnameMixed
	tzUTC        bool   // tz=UTC: times are UTC
	timeOffset   int    // time_offset=: minutes east of UTC the times are in
	showexec     bool   // only .exe, .com and .bat files are executable
	quiet        bool   // chmod and chown outside what FAT holds succeed silently
	rodir        bool   // ATTR_RO on a directory makes it read-only
	sysImmutable bool   // ATTR_SYS files are immutable
	flush        bool
	usefree      bool // trust FSInfo's free count
	discard      bool
	numtail      bool // short names of long ones always get ~N (not nonumtail)
	// noBarrier (nobarrier, barrier=0; this driver's own: Linux's fat has
	// no such option): sync and unmount write the dirty pages back but
	// never flush the disk's cache, as ext4's nobarrier; for a volume
	// built from nothing, of no use if the build is interrupted (mkfs -d).
	noBarrier bool
	errors    string
	// The msdos type's: dots (names may start with a dot, which is
	// dropped) and nocase (names keep their case).
	dotsOK, nocase bool
}

// The shortname= values (VFAT_SFN_DISPLAY_* and VFAT_SFN_CREATE_* in
// Linux): how a short name without a long one is shown and when a short
// name alone is enough for a new file.
const (
	shortnameLower = iota // shown lower case; created as Win95 does
	shortnameWin95        // shown as stored; a long name for all but all-caps 8.3
	shortnameWinNT        // shown with NT's case bits; no long name for all-lower or all-upper parts
	shortnameMixed        // shown with NT's case bits; created as Win95 does (the default)
)

// codepages are the code pages of both Linux's NLS tables and x/text's
// charmaps, by Linux's number.
var codepages = map[string]*charmap.Charmap{
	"437": charmap.CodePage437, "850": charmap.CodePage850, "852": charmap.CodePage852,
	"855": charmap.CodePage855, "860": charmap.CodePage860, "862": charmap.CodePage862,
	"863": charmap.CodePage863, "865": charmap.CodePage865, "866": charmap.CodePage866,
	"874": charmap.Windows874, "1250": charmap.Windows1250, "1251": charmap.Windows1251,
}

func defaultOptions() options {
	return options{
		fmask: 0o022, dmask: 0o022,
		codepage: charmap.CodePage437, codepageName: "437",
		utf8: true, iocharset: "ascii",
		shortname: shortnameMixed,
		numtail:   true,
		errors:    "remount-ro",
	}
}

// parseOptions parses a vfat mount's option string. Errors are EINVAL
// with the option named, as Linux refuses an unknown or malformed one.
func parseOptions(data string) (options, error) {
	o := defaultOptions()
	for _, opt := range strings.Split(data, ",") {
		name, val, hasVal := strings.Cut(opt, "=")
		bad := func() (options, error) {
			return o, abi.Errorf(abi.EINVAL, "vfat: bad value for mount option %q", opt)
		}
		num := func(base int, max uint64) (uint32, bool) {
			if !hasVal {
				return 0, false
			}
			n, err := strconv.ParseUint(val, base, 32)
			return uint32(n), err == nil && n <= max
		}
		switch name {
		case "", "ro", "rw", "defaults", "noatime", "relatime", "strictatime", "nodiratime",
			"dos1xfloppy", "check", "uni_xlate", "debug", "nfs", "posix", "conv", "cvf_format", "cvf_options":
			// No effect on what this driver shows or writes.
		case "dots", "nodots", "dotsOK":
			switch {
			case name == "dots" || val == "yes":
				o.dotsOK = true
			case name == "nodots" || val == "no":
				o.dotsOK = false
			default:
				return bad()
			}
		case "nocase":
			o.nocase = true
		case "uid", "gid":
			n, ok := num(10, 1<<32-1)
			if !ok {
				return bad()
			}
			if name == "uid" {
				o.uid = n
			} else {
				o.gid = n
			}
		case "umask", "dmask", "fmask":
			n, ok := num(8, 0o777)
			if !ok {
				return bad()
			}
			switch name {
			case "umask":
				o.fmask, o.dmask = n, n
			case "dmask":
				o.dmask = n
			case "fmask":
				o.fmask = n
			}
		case "allow_utime":
			n, ok := num(8, 0o777)
			if !ok {
				return bad()
			}
			o.allowUtime, o.allowUtimeOK = n&0o022, true
		case "codepage":
			cp, ok := codepages[val]
			if !ok {
				return o, abi.Errorf(abi.EINVAL, "vfat: codepage cp%s not found", val)
			}
			o.codepage, o.codepageName = cp, val
		case "iocharset":
			switch val {
			case "utf8":
				o.utf8 = true
			case "ascii", "iso8859-1":
				o.utf8 = false
			default:
				return o, abi.Errorf(abi.EINVAL, "vfat: IO charset %s not found", val)
			}
			o.iocharset = val
		case "utf8":
			switch val {
			case "", "1", "yes", "true":
				o.utf8 = true
			case "0", "no", "false":
				o.utf8 = false
			default:
				return bad()
			}
		case "shortname":
			switch val {
			case "lower":
				o.shortname = shortnameLower
			case "win95":
				o.shortname = shortnameWin95
			case "winnt":
				o.shortname = shortnameWinNT
			case "mixed":
				o.shortname = shortnameMixed
			default:
				return bad()
			}
		case "tz":
			if val != "UTC" {
				return bad()
			}
			o.tzUTC = true
		case "time_offset":
			n, err := strconv.Atoi(val)
			if err != nil || n < -24*60 || n > 24*60 {
				return bad()
			}
			o.timeOffset = n
		case "showexec":
			o.showexec = true
		case "quiet":
			o.quiet = true
		case "rodir":
			o.rodir = true
		case "sys_immutable":
			o.sysImmutable = true
		case "flush":
			o.flush = true
		case "usefree":
			o.usefree = true
		case "discard":
			o.discard = true
		case "nobarrier":
			o.noBarrier = true
		case "barrier":
			o.noBarrier = opt == "barrier=0"
		case "nonumtail":
			o.numtail = false
		case "numtail":
			o.numtail = true
		case "errors":
			switch val {
			case "panic", "continue", "remount-ro":
				o.errors = val
			default:
				return bad()
			}
		default:
			return o, abi.Errorf(abi.EINVAL, "vfat: unrecognized mount option %q", opt)
		}
	}
	if !o.allowUtimeOK {
		// Linux: by default those with write permission by the
		// umask may set times: allow_utime = ~fs_dmask & (S_IWGRP|S_IWOTH).
		o.allowUtime = ^o.dmask & 0o022
	}
	return o, nil
}

// offsetSeconds is the zone the FAT times are in, seconds east of UTC:
// time_offset=, else 0 (tz=UTC, or the library kernel's sys_tz, which is
// UTC).
func (o *options) offsetSeconds() int { return o.timeOffset * 60 }
