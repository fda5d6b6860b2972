package isofs

import (
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount options (Documentation/filesystems/isofs.rst; isofs_param_spec in
// fs/isofs/inode.c).
type options struct {
	rock, joliet bool   // norock, nojoliet turn them off
	hide         bool   // hide: leave out records flagged hidden
	showassoc    bool   // showassoc: show associated files
	mapping      byte   // map=: 'n' normal (default), 'o' off
	check        byte   // check=: 'r' relaxed, 's' strict, 'u' unset (the default)
	uid, gid     uint32 // owners without Rock Ridge (and over it when set)
	uidSet       bool
	gidSet       bool
	fmode, dmode uint32 // mode=, dmode=: permissions without Rock Ridge; invalidMode if unset
	overrideRock bool   // overriderockperm: mode= and dmode= over Rock Ridge too
	cruft        bool   // cruft: sizes cut to 24 bits
	nocompress   bool   // nocompress: zisofs files shown as stored
	sbsector     int64  // sbsector=: the session's first sector; -1 unset
}

// invalidMode is ISOFS_INVALID_MODE: mode= or dmode= not given.
const invalidMode = ^uint32(0)

func defaultOptions() options {
	return options{rock: true, joliet: true, mapping: 'n', check: 'u', fmode: invalidMode, dmode: invalidMode, sbsector: -1}
}

// parseOptions parses an iso9660 mount's option string. An unknown or
// malformed option is EINVAL, as Linux's fs_parse refuses it. utf8 and
// iocharset=utf8 are accepted (names are always UTF-8 here); other
// charsets, map=acorn and session= (a multisession disc's table of
// contents, which an image file has not) are not implemented.
func parseOptions(data string) (options, error) {
	o := defaultOptions()
	for _, opt := range strings.Split(data, ",") {
		if opt == "" {
			continue
		}
		key, val, hasVal := strings.Cut(opt, "=")
		bad := func() (options, error) {
			return o, abi.Errorf(abi.EINVAL, "isofs: bad mount option %q", opt)
		}
		num := func(base int) (uint32, bool) {
			v, err := strconv.ParseUint(val, base, 32)
			return uint32(v), err == nil && hasVal
		}
		switch key {
		case "norock":
			o.rock = false
		case "nojoliet":
			o.joliet = false
		case "unhide":
			// Kept for compatibility; shown is the default.
		case "hide":
			o.hide = true
		case "showassoc":
			o.showassoc = true
		case "cruft":
			o.cruft = true
		case "utf8":
		case "nocompress":
			o.nocompress = true
		case "overriderockperm":
			o.overrideRock = true
		case "conv":
			// Linux accepts and ignores it.
		case "iocharset":
			if val != "utf8" {
				return o, abi.Errorf(abi.EINVAL, "isofs: iocharset=%s: only utf8 is implemented", val)
			}
		case "map":
			switch val {
			case "normal", "n":
				o.mapping = 'n'
			case "off", "o":
				o.mapping = 'o'
			case "acorn", "a":
				return o, abi.Errorf(abi.EINVAL, "isofs: map=acorn is not implemented")
			default:
				return bad()
			}
		case "check":
			switch val {
			case "relaxed", "r":
				o.check = 'r'
			case "strict", "s":
				o.check = 's'
			default:
				return bad()
			}
		case "uid", "gid", "mode", "dmode", "block", "sbsector":
			base := 10
			if key == "mode" || key == "dmode" {
				base = 8
			}
			v, ok := num(base)
			if !ok {
				return bad()
			}
			switch key {
			case "uid":
				o.uid, o.uidSet = v, true
			case "gid":
				o.gid, o.gidSet = v, true
			case "mode":
				o.fmode = v & 0o777
			case "dmode":
				o.dmode = v & 0o777
			case "block":
				if v != 512 && v != 1024 && v != 2048 {
					return bad()
				}
			case "sbsector":
				o.sbsector = int64(v)
			}
		case "session":
			return o, abi.Errorf(abi.EINVAL, "isofs: session= is not implemented (use sbsector=)")
		default:
			return bad()
		}
	}
	return o, nil
}
