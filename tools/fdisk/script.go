package fdisk

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Script is a parsed sfdisk script (libfdisk's script.c): the header
// lines, then the partitions in order.
type Script struct {
	// Label is "dos" or "gpt" ("" when the script has no label line: the
	// caller's default, sfdisk's being dos).
	Label string
	// LabelID is the label-id line: "0x1234abcd" for dos, a GUID for gpt.
	LabelID string
	// FirstLBA, LastLBA and TableLength are the GPT header lines, 0 when
	// absent.
	FirstLBA, LastLBA uint64
	TableLength       uint32
	// Grain is the grain line in bytes, 0 when absent.
	Grain uint64
	// Partitions are the partition lines.
	Partitions []PartitionSpec
}

// PartitionSpec is one partition line. A field left out (empty or "-")
// takes its default.
type PartitionSpec struct {
	// Line is the line's number in the script, for error messages.
	Line int
	// Number is the partition's number from a "device :" prefix (the
	// trailing digits of the device's name), 0 for the next one.
	Number int
	// Start and Size are as written: "", "-" or "+" for the default, a
	// number of sectors, or a number with a suffix (bytes).
	Start, Size string
	// Type is as written: a code, a GUID, a shortcut, an alias or a name;
	// "" for Linux.
	Type     string
	Bootable bool
	// GPT's fields: the name, the unique GUID, the attribute bits as
	// sfdisk's --part-attrs string.
	Name, UUID, Attrs string
	hasName           bool
}

// Error is a script that sfdisk would refuse: the line and why.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

func lineErr(line int, format string, args ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a script. Header lines ("name: value") are taken before the
// first partition line; an unknown header is ignored, as sfdisk ignores
// it (with a warning, which warn receives when not nil). A line is a
// partition in the named form when it has a "=" or is only "bootable"
// words, else in the positional form "start size type bootable".
func Parse(r io.Reader, warn func(format string, args ...any)) (*Script, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	s := &Script{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if name, value, ok := headerLine(line); ok {
			if len(s.Partitions) > 0 {
				return nil, lineErr(n, "header line %q after the first partition", name)
			}
			if err := s.header(n, name, value, warn); err != nil {
				return nil, err
			}
			continue
		}
		p, err := partitionLine(n, line)
		if err != nil {
			return nil, err
		}
		s.Partitions = append(s.Partitions, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// headerLine splits "name: value" where name is a word of letters and
// dashes; a partition line's "device : ..." has a path or a number in it.
func headerLine(line string) (name, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 || strings.ContainsAny(line[:i], "=,; \t") {
		return "", "", false
	}
	name = line[:i]
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return "", "", false
		}
	}
	if strings.Contains(line[i+1:], "=") {
		return "", "", false
	}
	return strings.ToLower(name), strings.TrimSpace(line[i+1:]), true
}

func (s *Script) header(n int, name, value string, warn func(string, ...any)) error {
	num := func() (uint64, error) {
		v, err := strconv.ParseUint(value, 0, 64)
		if err != nil {
			return 0, lineErr(n, "%s: %q is not a number", name, value)
		}
		return v, nil
	}
	var err error
	switch name {
	case "label":
		if value != "dos" && value != "gpt" {
			return lineErr(n, "label %q: this sfdisk writes dos and gpt", value)
		}
		s.Label = value
	case "label-id":
		s.LabelID = value
	case "unit":
		if value != "sectors" {
			return lineErr(n, "unit %q: the only unit is sectors", value)
		}
	case "first-lba":
		s.FirstLBA, err = num()
	case "last-lba":
		s.LastLBA, err = num()
	case "table-length":
		var v uint64
		v, err = num()
		if err == nil && (v == 0 || v > 1<<16) {
			err = lineErr(n, "table-length %d", v)
		}
		s.TableLength = uint32(v)
	case "grain":
		s.Grain, err = num()
		if err == nil && (s.Grain < 512 || s.Grain%512 != 0) {
			err = lineErr(n, "grain %d is not a multiple of the sector size", s.Grain)
		}
	case "sector-size":
		// Informative only, as for sfdisk: the device's size is used.
		// Ours is always 512; a dump of a 4K disk does not fit.
		v, err2 := num()
		if err2 == nil && v != 512 {
			return lineErr(n, "sector-size %d: the disk's sectors are 512 bytes", v)
		}
		err = err2
	case "device":
		// Informative (the dump's source).
	default:
		warn("Unknown script header '%s' -- ignore.", name)
	}
	return err
}

// partitionLine parses a partition line in either form.
func partitionLine(n int, line string) (PartitionSpec, error) {
	p := PartitionSpec{Line: n}
	// "device : fields": the partition number from the device's name.
	if i := strings.Index(line, ":"); i > 0 && !strings.ContainsAny(line[:i], "=,\"") {
		dev := strings.TrimSpace(line[:i])
		j := len(dev)
		for j > 0 && dev[j-1] >= '0' && dev[j-1] <= '9' {
			j--
		}
		num, err := strconv.Atoi(dev[j:])
		if err != nil || num < 1 {
			return p, lineErr(n, "%q: no partition number in the device's name", dev)
		}
		p.Number = num
		line = strings.TrimSpace(line[i+1:])
	}
	if strings.Contains(line, "=") || normName(line) == "bootable" {
		return p, namedFields(&p, line)
	}
	return p, positionalFields(&p, line)
}

// namedFields parses "name=value, ..." (values may be quoted) and the
// bare word bootable.
func namedFields(p *PartitionSpec, line string) error {
	for rest := line; strings.TrimSpace(rest) != ""; {
		rest = strings.TrimLeft(rest, " \t,;")
		if rest == "" {
			break
		}
		k := strings.IndexAny(rest, "=,; \t")
		if k < 0 {
			k = len(rest)
		}
		key := strings.ToLower(rest[:k])
		rest = strings.TrimLeft(rest[k:], " \t")
		if key == "bootable" {
			p.Bootable = true
			continue
		}
		if !strings.HasPrefix(rest, "=") {
			return lineErr(p.Line, "unsupported field %q", key)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		var val string
		if strings.HasPrefix(rest, "\"") {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return lineErr(p.Line, "%s: unterminated quote", key)
			}
			val, rest = rest[1:1+end], rest[2+end:]
		} else {
			end := strings.IndexAny(rest, ",; \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		switch key {
		case "start":
			p.Start = val
		case "size":
			p.Size = val
		case "type", "id":
			p.Type = val
		case "name":
			p.Name, p.hasName = val, true
		case "uuid":
			p.UUID = val
		case "attrs":
			p.Attrs = val
		default:
			return lineErr(p.Line, "unsupported field %q", key)
		}
	}
	return nil
}

// positionalFields parses "start size type bootable", the fields apart by
// commas, semicolons or blanks (a comma or semicolon may have blanks
// around it; two commas in a row leave the field between them empty).
func positionalFields(p *PartitionSpec, line string) error {
	var fields []string
	cur, sep := "", false
	flush := func() { fields = append(fields, cur); cur = "" }
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ',' || c == ';':
			flush()
			sep = true
		case c == ' ' || c == '\t':
			// Blanks end a field unless a comma follows them.
			j := i
			for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
				j++
			}
			if j < len(line) && line[j] != ',' && line[j] != ';' && (cur != "" || !sep) {
				flush()
			}
			i = j - 1
		default:
			cur += string(c)
			sep = false
		}
	}
	flush()
	if len(fields) > 4 {
		return lineErr(p.Line, "%d fields: the positional form is start size type bootable", len(fields))
	}
	fields = append(fields, "", "", "", "")
	p.Start, p.Size, p.Type = fields[0], fields[1], fields[2]
	switch fields[3] {
	case "*":
		p.Bootable = true
	case "", "-":
	default:
		return lineErr(p.Line, "bootable field %q: '*' or '-'", fields[3])
	}
	if p.Type == "-" {
		p.Type = ""
	}
	return nil
}
