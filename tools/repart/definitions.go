package repart

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Unset marks a size bound or padding not given.
const Unset = ^uint64(0)

// Partition is one repart.d definition (repart.d(5)) as systemd-repart 252
// reads it, with the keys an image build uses.
type Partition struct {
	File     string // the definition's file name: its place in the order
	Type     ID128  // the partition type's GUID
	Label    string // the GPT name; LabelSet: given (even empty)
	LabelSet bool
	// UUID is the partition's GUID when UUIDSet (UUID=null: zero);
	// otherwise it is derived from the seed.
	UUID    ID128
	UUIDSet bool
	// Priority, Weight and PaddingWeight: who is dropped when the
	// partitions do not fit, and the shares of free space (default 1000
	// and 0).
	Priority      int32
	Weight        uint32
	PaddingWeight uint32
	// Size and padding bounds in bytes, rounded to 4096 as systemd 252.19
	// and later round them (minimums down, maximums up); Unset if not
	// given.
	SizeMin, SizeMax       uint64
	PaddingMin, PaddingMax uint64
	// Format is the filesystem made in the partition, "" for none.
	Format string
	// CopyFiles are the SOURCE:TARGET pairs copied in, in order, then
	// MakeDirectories made.
	CopyFiles       []CopyFile
	MakeDirectories []string
	// Minimize is "off", "best" or "guess" (systemd 253's key).
	Minimize string
	// Flags are the GPT attribute bits given; ReadOnly, NoAuto and
	// GrowFileSystem are -1 when not given, else 0 or 1.
	Flags                            uint64
	ReadOnly, NoAuto, GrowFileSystem int
}

// CopyFile is one CopyFiles= pair: Source on the host (under the root
// directory), Target in the new filesystem.
type CopyFile struct {
	Source, Target string
}

// Read reads the definitions of dirs as systemd-repart --definitions=DIR
// (repeated) finds them (conf-files.c): every *.conf that is a regular
// file, the first directory's of a name winning, an empty file (or a
// link to /dev/null) masking the name; sorted by file name whatever the
// directory, which is the partitions' order. Each file's drop-ins
// (NAME.conf.d/*.conf in each directory) are read after it. arch is the
// image's architecture (a GOARCH, "" for the host's). Warnings (keys
// ignored, assignments refused) go to warn.
func Read(dirs []string, arch string, warn func(string)) ([]*Partition, error) {
	if arch == "" {
		arch = hostArch
	}
	found := map[string]string{} // name -> path, "" for a mask
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := e.Name()
			if _, ok := found[n]; ok || !strings.HasSuffix(n, ".conf") || hiddenName(n) {
				continue
			}
			p := filepath.Join(dir, n)
			st, err := os.Stat(p)
			switch {
			case err != nil:
				continue
			case st.Mode()&os.ModeCharDevice != 0 || st.Mode().IsRegular() && st.Size() == 0:
				found[n] = ""
			case st.Mode().IsRegular():
				found[n] = p
			}
		}
	}
	var names []string
	for n, p := range found {
		if p != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no partition definitions (*.conf)", strings.Join(dirs, ", "))
	}
	var parts []*Partition
	for _, n := range names {
		p, err := readPartition(found[n], dropIns(dirs, n), arch, warn)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// hiddenName is what systemd's directory walks skip: hidden and backup
// files.
func hiddenName(n string) bool {
	if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") || n == "lost+found" {
		return true
	}
	for _, s := range []string{".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-tmp", ".dpkg-dist", ".dpkg-bak", ".dpkg-backup", ".dpkg-remove", ".ucf-new", ".ucf-old", ".ucf-dist", ".swp", ".bak", ".old", ".new"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// dropIns returns the drop-in files of the definition name, sorted by
// file name, the first directory's of a name winning.
func dropIns(dirs []string, name string) []string {
	found := map[string]string{}
	for _, dir := range dirs {
		ents, _ := os.ReadDir(filepath.Join(dir, name+".d"))
		for _, e := range ents {
			n := e.Name()
			if _, ok := found[n]; !ok && strings.HasSuffix(n, ".conf") && !hiddenName(n) {
				found[n] = filepath.Join(dir, name+".d", n)
			}
		}
	}
	var names []string
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	var paths []string
	for _, n := range names {
		paths = append(paths, found[n])
	}
	return paths
}

// readPartition reads a definition and its drop-ins, later assignments
// overriding earlier ones, and settles the defaults that depend on them
// (partition_read_definition).
func readPartition(file string, dropIns []string, arch string, warn func(string)) (*Partition, error) {
	p := &Partition{File: filepath.Base(file), Weight: 1000, Minimize: "off",
		SizeMin: Unset, SizeMax: Unset, PaddingMin: Unset, PaddingMax: Unset,
		ReadOnly: -1, NoAuto: -1, GrowFileSystem: -1}
	typeSet := false
	for _, f := range append([]string{file}, dropIns...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		err = parseINI(f, b, warn, func(where, key, val string) error {
			if key == "Type" {
				typeSet = true
			}
			return p.set(where, key, val, arch, warn)
		})
		if err != nil {
			return nil, err
		}
	}
	if !typeSet {
		return nil, fmt.Errorf("%s: Type= not defined", file)
	}
	if p.SizeMin != Unset && p.SizeMax != Unset && p.SizeMin > p.SizeMax {
		return nil, fmt.Errorf("%s: SizeMinBytes= larger than SizeMaxBytes=", file)
	}
	if p.PaddingMin != Unset && p.PaddingMax != Unset && p.PaddingMin > p.PaddingMax {
		return nil, fmt.Errorf("%s: PaddingMinBytes= larger than PaddingMaxBytes=", file)
	}
	name := typeName(p.Type)
	populated := len(p.CopyFiles) > 0 || len(p.MakeDirectories) > 0
	if p.Format == "" && populated {
		// systemd 252 makes ext4; 254 and later vfat for the partitions a
		// firmware or boot loader reads, as we do.
		p.Format = "ext4"
		if name == "esp" || name == "xbootldr" {
			p.Format = "vfat"
		}
	}
	if name == "swap" && populated {
		return nil, fmt.Errorf("%s: a swap partition cannot hold files (CopyFiles=, MakeDirectories=)", file)
	}
	if p.Minimize != "off" && p.Format == "" {
		return nil, fmt.Errorf("%s: Minimize= needs Format=", file)
	}
	if p.ReadOnly < 0 && isVerity(name) {
		p.ReadOnly = 1
	}
	if knowsGrowFS(name) && p.ReadOnly != 1 {
		// Forced whatever GrowFileSystem= says, as systemd 252 to 257 do.
		p.GrowFileSystem = 1
	}
	return p, nil
}

// parseINI walks a file in systemd's unit-file syntax (conf-parser.c):
// comments from # or ;, lines continued by a final backslash (which
// becomes a space; the next line is taken as it is), [Section] headers,
// KEY=VALUE assignments. Only [Partition]'s assignments reach set; the
// rest is ignored with a warning, as systemd ignores it.
func parseINI(file string, b []byte, warn func(string), set func(where, key, val string) error) error {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	section, n, cont, start := "", 0, "", 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		if t := strings.TrimLeft(raw, " \t"); strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		if cont == "" {
			start = n
		}
		line := cont + raw
		if endsInBackslash(line) {
			cont = line[:len(line)-1] + " "
			continue
		}
		cont = ""
		if err := parseLine(file, start, strings.TrimSpace(line), &section, warn, set); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if cont != "" {
		return parseLine(file, start, strings.TrimSpace(cont), &section, warn, set)
	}
	return nil
}

// endsInBackslash reports whether the line ends in a backslash that no
// backslash before it escapes.
func endsInBackslash(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func parseLine(file string, line int, s string, section *string, warn func(string), set func(where, key, val string) error) error {
	where := fmt.Sprintf("%s:%d", file, line)
	switch {
	case s == "":
		return nil
	case !utf8.ValidString(s):
		warn(where + ": not UTF-8, ignoring the line")
		return nil
	case s[0] == '[':
		if !strings.HasSuffix(s, "]") {
			return fmt.Errorf("%s: invalid section header %q", where, s)
		}
		*section = s[1 : len(s)-1]
		if *section != "Partition" && !strings.HasPrefix(*section, "X-") {
			warn(fmt.Sprintf("%s: unknown section %q, ignoring", where, *section))
		}
		return nil
	case *section == "":
		warn(where + ": an assignment outside any section, ignoring")
		return nil
	case *section != "Partition":
		return nil
	}
	key, val, ok := strings.Cut(s, "=")
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	if !ok || key == "" {
		warn(fmt.Sprintf("%s: missing '=' or key, ignoring %q", where, s))
		return nil
	}
	return set(where, key, val)
}

// set applies one assignment of a [Partition] section. A value systemd
// refuses fatally is an error; one it ignores is a warning and leaves the
// previous value (repart.c's config_parse_* of each key).
func (p *Partition) set(where, key, val, arch string, warn func(string)) error {
	ignore := func(err error) error {
		warn(fmt.Sprintf("%s: %s=%s: %v, ignoring", where, key, val, err))
		return nil
	}
	switch key {
	case "Type":
		id, err := typeID(val, arch)
		if err != nil {
			return fmt.Errorf("%s: Type=%s: %w", where, val, err)
		}
		p.Type = id
	case "Label":
		l, err := expand(val, arch, 36)
		if err != nil {
			return ignore(err)
		}
		if !utf8.ValidString(l) || len(utf16.Encode([]rune(l))) > 36 {
			return ignore(fmt.Errorf("a GPT name is at most 36 UTF-16 units"))
		}
		p.Label, p.LabelSet = l, true
	case "UUID":
		switch val {
		case "":
			p.UUID, p.UUIDSet = ID128{}, false
		case "null":
			p.UUID, p.UUIDSet = ID128{}, true
		default:
			id, err := ParseID128(val)
			if err != nil {
				return ignore(err)
			}
			p.UUID, p.UUIDSet = id, true
		}
	case "Priority":
		v, _, err := parseNumber(val, 32, true)
		if err != nil {
			return ignore(err)
		}
		p.Priority = int32(v)
	case "Weight", "PaddingWeight":
		_, v, err := parseNumber(val, 32, false)
		if err == nil && v > 1000*1000 {
			err = fmt.Errorf("above 1000000")
		}
		if err != nil {
			return ignore(err)
		}
		if key == "Weight" {
			p.Weight = uint32(v)
		} else {
			p.PaddingWeight = uint32(v)
		}
	case "SizeMinBytes", "SizeMaxBytes", "PaddingMinBytes", "PaddingMaxBytes":
		v, err := parseSize(val)
		if err != nil {
			return fmt.Errorf("%s: %s=%s: %w", where, key, val, err)
		}
		// Minimums round down, maximums up (systemd 252.19 and later).
		if strings.Contains(key, "Min") {
			v = v / 4096 * 4096
		} else {
			v = (v + 4095) / 4096 * 4096
		}
		switch key {
		case "SizeMinBytes":
			p.SizeMin = v
		case "SizeMaxBytes":
			p.SizeMax = v
		case "PaddingMinBytes":
			p.PaddingMin = v
		default:
			p.PaddingMax = v
		}
	case "Format":
		if val == "" || strings.ContainsAny(val, "/\x00") || val == "." || val == ".." {
			return ignore(fmt.Errorf("not a filesystem type"))
		}
		p.Format = val
	case "CopyFiles":
		return p.copyFiles(where, val, arch, warn)
	case "MakeDirectories":
		words, err := shellWords(val)
		if err != nil {
			return ignore(err)
		}
		for _, w := range words {
			d, err := absPath(w, arch)
			if err != nil {
				warn(fmt.Sprintf("%s: MakeDirectories=: %v, ignoring it", where, err))
				continue
			}
			p.MakeDirectories = append(p.MakeDirectories, d)
		}
	case "Minimize":
		switch val {
		case "off", "best", "guess":
			p.Minimize = val
		default:
			b, err := parseBool(val)
			if err != nil {
				return ignore(err)
			}
			p.Minimize = map[bool]string{false: "off", true: "best"}[b]
		}
	case "Flags":
		_, v, err := parseNumber(val, 64, false)
		if err != nil {
			return ignore(err)
		}
		p.Flags = v
	case "ReadOnly", "NoAuto", "GrowFileSystem":
		v := -1
		if val != "" {
			b, err := parseBool(val)
			if err != nil {
				return ignore(err)
			}
			v = map[bool]int{false: 0, true: 1}[b]
		}
		switch key {
		case "ReadOnly":
			p.ReadOnly = v
		case "NoAuto":
			p.NoAuto = v
		default:
			p.GrowFileSystem = v
		}
	case "CopyBlocks", "Encrypt", "Verity", "VerityMatchKey", "FactoryReset", "SplitName", "ExcludeFiles", "ExcludeFilesTarget":
		if key == "FactoryReset" || key == "SplitName" || val == "" || val == "off" || val == "no" {
			return nil // nothing an image build here does
		}
		return fmt.Errorf("%s: %s= is not supported by lklimg disk build", where, key)
	default:
		if !strings.HasPrefix(key, "X-") {
			warn(fmt.Sprintf("%s: unknown key %s, ignoring", where, key))
		}
	}
	return nil
}

// copyFiles adds a CopyFiles= pair: SOURCE[:TARGET], C escapes undone, a
// third field fatal, each path absolute (else ignored) and made simple.
func (p *Partition) copyFiles(where, val, arch string, warn func(string)) error {
	fields, err := splitColons(val)
	if err != nil {
		return fmt.Errorf("%s: CopyFiles=%s: %w", where, val, err)
	}
	if len(fields) > 2 {
		return fmt.Errorf("%s: CopyFiles=%s: too many arguments", where, val)
	}
	if len(fields) == 1 {
		fields = append(fields, fields[0])
	}
	var cf [2]string
	for i, f := range fields {
		if cf[i], err = absPath(f, arch); err != nil {
			warn(fmt.Sprintf("%s: CopyFiles=%s: %v, ignoring", where, val, err))
			return nil
		}
	}
	p.CopyFiles = append(p.CopyFiles, CopyFile{Source: cf[0], Target: cf[1]})
	return nil
}

// splitColons splits on unescaped colons and undoes C escapes
// (extract_first_word with EXTRACT_CUNESCAPE|EXTRACT_DONT_COALESCE_SEPARATORS).
func splitColons(s string) ([]string, error) {
	var fields []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			fields = append(fields, b.String())
			b.Reset()
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'a', 'b', 'f', 'r', 'v':
				b.WriteByte(map[byte]byte{'a': 7, 'b': 8, 'f': 12, 'r': 13, 'v': 11}[e])
			default:
				b.WriteByte(e)
			}
		case c == '\\':
			return nil, fmt.Errorf("a trailing backslash")
		default:
			b.WriteByte(c)
		}
	}
	return append(fields, b.String()), nil
}

// shellWords splits on whitespace, with single and double quotes
// grouping and removed (EXTRACT_UNQUOTE).
func shellWords(s string) ([]string, error) {
	var words []string
	var b strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("an unfinished quote")
	}
	if in {
		words = append(words, b.String())
	}
	return words, nil
}

// absPath expands specifiers and checks and simplifies a path
// (path_simplify_and_warn with PATH_CHECK_ABSOLUTE): absolute, without
// "..", "." and double slashes gone.
func absPath(s, arch string) (string, error) {
	e, err := expand(s, arch, 4095)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(e, "/") {
		return "", fmt.Errorf("%q is not an absolute path", e)
	}
	for _, c := range strings.Split(e, "/") {
		if c == ".." {
			return "", fmt.Errorf("%q contains \"..\"", e)
		}
	}
	return path.Clean(e), nil
}
