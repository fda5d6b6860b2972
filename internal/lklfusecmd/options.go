package lklfusecmd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel"
)

// options is a parsed command line: LKL's lklfuse options and FUSE's.
type options struct {
	image, mountpoint string

	// LKL's -o options.
	fstype   string   // type=
	part     int      // part=
	readOnly bool     // ro
	mb       int      // mb=
	fsOpts   string   // opts=: the filesystem's own mount options
	log      string   // log=: the kernel log and messages of a background server
	devices  []string // device=, repeated: further images (btrfs over several)

	// FUSE's.
	foreground, debug, single bool // -f, -d, -s
	allowOther, allowRoot     bool
	fsname, subtype           string
	attrTimeout, entryTimeout float64 // seconds; 0: the default
	maxNodes                  int     // max_nodes=; 0: fusefs's default
	// extra are -o options passed to the host's mount as they are.
	extra []string

	help, version bool
}

// usage is the help text.
var usage = `usage: lklfuse [options] IMAGE MOUNTPOINT
       lklimg mount [options] IMAGE MOUNTPOINT

Mount the filesystem inside a disk image on MOUNTPOINT through FUSE, served
by the library kernel: read-write unless -o ro, owners and permissions as the
image has them. The command returns once the mount is ready and serves it in
the background until it is unmounted (fusermount3 -u MOUNTPOINT, umount), or
until SIGTERM or SIGINT, when it unmounts; the image is then consistent
(journal committed, filesystem clean).

options:
    -o OPT[,OPT...]      mount options (below); -o may be repeated
    -f                   stay in the foreground
    -d                   debug: log every FUSE request (implies -f)
    -s                   serve one request at a time
    -h, --help           this help
    -V, --version        the version

lklfuse options (-o):
    type=TYPE            filesystem type (` + kernel.FilesystemTypesHelp() + `);
                         probed when not given
    part=N               partition N of a partitioned disk (0: the whole disk)
    ro                   mount read-only: the image file is never written
    rw                   mount read-write (the default)
    mb=MB                kernel memory in MiB (page cache and queues), default 32
    opts=OPTIONS         the filesystem's own mount options (use \, for a comma
                         and \= for an equals sign inside them), as FAT's
                         owners and modes: opts=uid=1000\,umask=022
    log=FILE             append the kernel log and the server's messages to FILE
    device=IMAGE         attach IMAGE too, as a further disk: another device of
                         a filesystem over several (btrfs raid1, ...); repeat
                         for each

FUSE options (-o):
    allow_other          let other users than the one who mounted use the mount
    allow_root           let root use it too
    default_permissions  the host checks permissions (always on)
    fsname=NAME          the source shown in /proc/mounts (default: IMAGE)
    subtype=NAME         shown as fuse.NAME (default: lklfuse)
    attr_timeout=SEC     how long the host caches attributes (default 1)
    entry_timeout=SEC    how long the host caches names (default 1)
    max_nodes=N          the inodes the server keeps of those the host knows
                         (default 16384): the host drops the names of older
                         ones, and looks them up again when used
    other options are passed to the host's mount (e.g. noatime, nodev, nosuid)
`

// defaultMB is the kernel's memory when mb= is not given: the other
// commands' default (LKL's lklfuse takes 64).
const defaultMB = kernel.DefaultMemory >> 20

// parseArgs parses args (without the program name), FUSE's way: options
// and the two names in any order.
func parseArgs(args []string) (*options, error) {
	o := &options{mb: defaultMB, attrTimeout: 1, entryTimeout: 1}
	var names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o":
			if i+1 == len(args) {
				return nil, errors.New("-o needs options")
			}
			i++
			if err := o.parseOpts(args[i]); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			if err := o.parseOpts(a[2:]); err != nil {
				return nil, err
			}
		case a == "-f":
			o.foreground = true
		case a == "-d" || a == "-odebug":
			o.debug, o.foreground = true, true
		case a == "-s":
			o.single = true
		case a == "-h" || a == "--help":
			o.help = true
		case a == "-V" || a == "--version":
			o.version = true
		case a == "--":
			names = append(names, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, fmt.Errorf("unknown option %s", a)
		default:
			names = append(names, a)
		}
	}
	if o.help || o.version {
		return o, nil
	}
	if len(names) != 2 {
		return nil, errors.New("need IMAGE and MOUNTPOINT")
	}
	o.image, o.mountpoint = names[0], names[1]
	return o, nil
}

// parseOpts parses one -o list. A backslash escapes the next character,
// so that opts= can hold commas and equals signs (LKL's convention).
func (o *options) parseOpts(list string) error {
	for _, opt := range splitEscaped(list, ',') {
		key, value, hasValue := cutEscaped(opt)
		var err error
		if set := o.valued(key); set != nil {
			if err = errors.New("needs a value"); hasValue {
				err = set(value)
			}
		} else {
			switch key {
			case "", "default_permissions":
			case "ro":
				o.readOnly = true
			case "rw":
				o.readOnly = false
			case "allow_other":
				o.allowOther = true
			case "allow_root":
				o.allowRoot = true
			case "debug":
				o.debug, o.foreground = true, true
			default:
				o.extra = append(o.extra, unescape(opt))
			}
		}
		if err != nil {
			return fmt.Errorf("-o %s: %v", unescape(opt), err)
		}
	}
	return nil
}

// valued returns the setter of the -o option key=VALUE, or nil for an
// option that takes no value (or is the host mount's).
func (o *options) valued(key string) func(value string) error {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	num := func(p *float64) func(string) error {
		return func(v string) (err error) { *p, err = strconv.ParseFloat(v, 64); return err }
	}
	switch key {
	case "type":
		return str(&o.fstype)
	case "opts":
		return str(&o.fsOpts)
	case "log":
		return str(&o.log)
	case "device":
		return func(v string) error { o.devices = append(o.devices, v); return nil }
	case "fsname":
		return str(&o.fsname)
	case "subtype":
		return str(&o.subtype)
	case "attr_timeout":
		return num(&o.attrTimeout)
	case "entry_timeout":
		return num(&o.entryTimeout)
	case "part":
		return func(v string) (err error) { o.part, err = strconv.Atoi(v); return err }
	case "max_nodes":
		return func(v string) (err error) {
			if o.maxNodes, err = strconv.Atoi(v); err == nil && o.maxNodes <= 0 {
				err = errors.New("the server keeps at least one node")
			}
			return err
		}
	case "mb":
		return func(v string) (err error) {
			if o.mb, err = strconv.Atoi(v); err == nil && o.mb <= 0 {
				err = errors.New("the kernel needs some memory")
			}
			return err
		}
	}
	return nil
}

// splitEscaped splits s at each sep not escaped by a backslash; the
// backslashes stay, for cutEscaped and unescape.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// cutEscaped splits an option at its first unescaped '=' and unescapes
// both sides.
func cutEscaped(opt string) (key, value string, ok bool) {
	kv := splitEscaped(opt, '=')
	if len(kv) == 1 {
		return unescape(opt), "", false
	}
	return unescape(kv[0]), unescape(opt[len(kv[0])+1:]), true
}

// unescape drops the backslash of each escaped character.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
