package hostcopy

import (
	"strings"
	"unicode/utf8"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The names a Windows host refuses, checked before anything is made so
// that each is reported clearly (rather than as the host's
// ERROR_INVALID_NAME, or worse, as a different file: "aux.c" opens the
// AUX device, "a." is "a", "a:b" is the stream b of a). The rules are
// Microsoft's "Naming Files, Paths, and Namespaces" (Win32 file
// namespace). These functions are plain Go, tested on every host; only
// the Windows host layer uses them.

// windowsReserved are the device names Win32 resolves in any directory,
// with any extension ("nul.txt" is NUL too), in any case.
var windowsReserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"COM¹": true, "COM²": true, "COM³": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
	"LPT¹": true, "LPT²": true, "LPT³": true,
}

// windowsNameError returns why Windows cannot hold the plain name (see
// plainName) as one file name, or nil: a reserved device name, a
// character Win32 gives a meaning to (<>:"|?*, '\' and '/'; ':' would
// name an alternate data stream) or a control character, a trailing dot or space
// (Win32 strips them, so that "a." would be "a"), bytes that are not
// UTF-8 (Windows names are UTF-16: such a name would become another).
func windowsNameError(name string) error {
	if name == "" {
		return abi.Errorf(abi.EINVAL, "an empty name")
	}
	if !utf8.ValidString(name) {
		return abi.Errorf(abi.EINVAL, "the name %q is not UTF-8, which Windows names (UTF-16) cannot hold", name)
	}
	for _, r := range name {
		if r < 0x20 || strings.ContainsRune(`<>:"|?*\/`, r) {
			return abi.Errorf(abi.EINVAL, "the name %q holds %q, which Windows does not allow in a file name", name, r)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return abi.Errorf(abi.EINVAL, "the name %q ends in a dot or a space, which Windows strips", name)
	}
	base, _, _ := strings.Cut(name, ".")
	if windowsReserved[strings.ToUpper(strings.TrimRight(base, " "))] {
		return abi.Errorf(abi.EINVAL, "the name %q is a device name Windows reserves", name)
	}
	return nil
}

// windowsRefused returns, for the names of one directory (sorted), those
// a Windows host cannot make, each with why: the names windowsNameError
// refuses, and each name that differs only in case from one before it
// (NTFS, as Windows uses it, does not tell them apart: the second would
// replace the first).
func windowsRefused(names []string) map[string]error {
	var out map[string]error
	seen := make(map[string]string, len(names))
	refuse := func(n string, err error) {
		if out == nil {
			out = map[string]error{}
		}
		out[n] = err
	}
	for _, n := range names {
		if err := windowsNameError(n); err != nil {
			refuse(n, err)
			continue
		}
		// NTFS compares names through its upcase table: one upper case
		// per character, which unicode.ToUpper (rune by rune) follows.
		key := strings.ToUpper(n)
		if first, ok := seen[key]; ok {
			refuse(n, abi.Errorf(abi.EEXIST, "the name %q differs from %q only in case, which Windows does not tell apart", n, first))
			continue
		}
		seen[key] = n
	}
	return out
}
