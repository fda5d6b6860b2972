package fdisk

import (
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/format/mbr"
)

// Partition types as sfdisk's scripts name them (libfdisk's
// fdisk_label_advparse_parttype with sfdisk's flags): for backward
// compatibility the shortcuts first, then the code (a GUID for GPT, a hex
// byte for MBR), then the aliases, then the type's name compared without
// case and without any character but letters and digits ("Linux /usr
// (x86)" is "linuxusrx86"). The names are sfdisk's own (types_table.go,
// written from `sfdisk --list-types` by gentypes.sh).

type gptType struct{ guid, name string }

type dosType struct {
	code byte
	name string
}

// shortcut is one of sfdisk's one- or two-letter types and its alias.
type shortcut struct {
	short, alias string
	dos          byte   // 0: not for MBR
	gpt          string // "": not for GPT
}

// shortcuts are sfdisk's (man sfdisk, "Supported shortcuts and aliases";
// X and E are the deprecated forms of Ex and 85).
var shortcuts = []shortcut{
	{"L", "linux", 0x83, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
	{"S", "swap", 0x82, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"},
	{"Ex", "extended", 0x05, ""},
	{"E", "", 0x05, ""},
	{"X", "", 0x85, ""},
	{"H", "home", 0, "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"},
	{"U", "uefi", 0xEF, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
	{"R", "raid", 0xFD, "A19D880F-05FC-4D3B-A006-743F0F84911E"},
	{"V", "lvm", 0x8E, "E6D6D379-F507-44C2-A23C-238F2A3DF928"},
}

// normName is a type name as sfdisk compares it: lower case letters and
// digits only.
func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseGPTType returns the type GUID s names, or false.
func parseGPTType(s string) (gpt.GUID, bool) {
	for _, sc := range shortcuts {
		if sc.gpt != "" && s == sc.short {
			g, _ := gpt.ParseGUID(sc.gpt)
			return g, true
		}
	}
	if g, err := gpt.ParseGUID(s); err == nil {
		return g, true
	}
	for _, sc := range shortcuts {
		if sc.gpt != "" && sc.alias != "" && strings.EqualFold(s, sc.alias) {
			g, _ := gpt.ParseGUID(sc.gpt)
			return g, true
		}
	}
	if n := normName(s); n != "" {
		for _, t := range gptTypes {
			if normName(t.name) == n {
				g, _ := gpt.ParseGUID(t.guid)
				return g, true
			}
		}
	}
	return gpt.GUID{}, false
}

// parseDOSType returns the type byte s names, or false. A code is hex,
// "0x" optional, and must fit a byte (sfdisk keeps the low byte of a
// larger number; we refuse it) and not be 0 (an empty entry).
func parseDOSType(s string) (byte, bool) {
	for _, sc := range shortcuts {
		if sc.dos != 0 && s == sc.short {
			return sc.dos, true
		}
	}
	hex := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if n, err := strconv.ParseUint(hex, 16, 8); err == nil && len(hex) <= 2 {
		return byte(n), n != mbr.TypeEmpty
	}
	for _, sc := range shortcuts {
		if sc.dos != 0 && sc.alias != "" && strings.EqualFold(s, sc.alias) {
			return sc.dos, true
		}
	}
	if n := normName(s); n != "" {
		for _, t := range dosTypes {
			if t.code != 0 && normName(t.name) == n {
				return t.code, true
			}
		}
	}
	return 0, false
}

// GPTTypeName returns sfdisk's name of a GPT type ("Linux filesystem"),
// or "" for one it does not name.
func GPTTypeName(g gpt.GUID) string {
	s := g.String()
	for _, t := range gptTypes {
		if t.guid == s {
			return t.name
		}
	}
	return ""
}

// DOSTypeName returns sfdisk's name of an MBR type ("Linux"), or "".
func DOSTypeName(code byte) string {
	for _, t := range dosTypes {
		if t.code == code {
			return t.name
		}
	}
	return ""
}
