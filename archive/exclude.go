package archive

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Excluder matches entry names against exclusion patterns with the rules
// GNU tar applies to --exclude by default (GNU tar manual, "Controlling
// Pattern-Matching": --wildcards, --no-anchored and --wildcards-match-slash
// are the defaults for exclusions):
//
//   - a pattern is a shell wildcard: '*' matches any string and '?' any
//     one character, both including '/'; "[...]" a set ("[!...]" or
//     "[^...]" its complement, "a-z" ranges); '\' quotes the next
//     character;
//   - unanchored: a pattern matches a name if it matches the whole path
//     ("etc/passwd") or any part of it that begins after a '/'
//     ("passwd"), so "passwd" matches a file of that name in any
//     directory and "etc/*.conf" matches below any etc;
//   - an excluded directory is not descended into: its contents go too.
//
// Paths are matched as GNU tar matches members named relative to the
// root, "etc/passwd" as in `tar -C root -cf - etc usr`: the "./" the
// archive puts before every name is not part of what patterns see, and a
// pattern's own leading "./" or "/" is dropped ("/etc/shadow" and
// "./etc/shadow" mean etc/shadow). Were "./" matched, as when GNU tar
// archives ".", a pattern starting with '.', '?' or '*' would match every
// name ('.*' would empty the archive: a known trap of GNU tar). The root
// itself is never excluded. One more difference: a trailing '/' of a
// pattern is dropped, so "cache/" names the directory cache (in GNU tar
// it matches nothing, names having no trailing '/'). The zero Excluder
// excludes nothing.
type Excluder struct {
	patterns []string
}

// NewExcluder returns the Excluder of patterns. An empty pattern, or one
// that names only the root ("/", "./"), is an error: it would match
// nothing, surely not what was meant. As in
// fnmatch(3), a '[' without its ']' and a final '\' stand for themselves.
func NewExcluder(patterns []string) (*Excluder, error) {
	e := &Excluder{}
	for _, p := range patterns {
		q := trimDirSlash(p)
		for {
			if t, ok := strings.CutPrefix(q, "./"); ok {
				q = t
			} else if t, ok := strings.CutPrefix(q, "/"); ok {
				q = t
			} else {
				break
			}
		}
		if q == "" || q == "." {
			return nil, fmt.Errorf("exclude: pattern %q names no entry (the root is never excluded)", p)
		}
		e.patterns = append(e.patterns, q)
	}
	return e, nil
}

// Match reports whether name ("./a/b", as the archive names entries, or
// "a/b") matches a pattern, unanchored.
func (e *Excluder) Match(name string) bool {
	if e == nil {
		return false
	}
	name = strings.TrimPrefix(name, "./")
	for _, p := range e.patterns {
		if wildMatch(p, name) {
			return true
		}
		for i := 0; i+1 < len(name); i++ {
			if name[i] == '/' && name[i+1] != '/' && wildMatch(p, name[i+1:]) {
				return true
			}
		}
	}
	return false
}

// wildMatch is fnmatch(3) without FNM_PATHNAME or FNM_PERIOD: '*' and '?'
// match '/' and leading dots too. Characters are UTF-8 sequences, as in
// GNU tar under a UTF-8 locale ('?' matches "é", two bytes); a byte that
// is not valid UTF-8 is a character of its own. As '*' matches anything,
// retrying from the last '*' seen is enough (no deeper backtracking).
func wildMatch(pattern, name string) bool {
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		c, cn := char(name, n)
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p, n = p+1, n+cn
				continue
			case '[':
				if ok, next, valid := matchClass(pattern, p, c); valid {
					if ok {
						p, n = next, n+cn
						continue
					}
					break
				}
				if name[n] == '[' { // no closing ']': a plain '['
					p, n = p+1, n+1
					continue
				}
			case '\\':
				lit, adv := "\\", 1 // a final '\' is itself
				if p+1 < len(pattern) {
					_, l := char(pattern, p+1)
					lit, adv = pattern[p+1:p+1+l], 1+l
				}
				if strings.HasPrefix(name[n:], lit) {
					p, n = p+adv, n+len(lit)
					continue
				}
			default:
				_, l := char(pattern, p)
				if name[n:n+cn] == pattern[p:p+l] {
					p, n = p+l, n+cn
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, sn := char(name, starN)
		starN += sn
		p, n = starP+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// char returns the character at s[i]: its code point and length in
// bytes. A byte that does not start valid UTF-8 is one character, its
// value the byte's (so ranges of such bytes work as in the C locale).
func char(s string, i int) (rune, int) {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return rune(s[i]), 1
	}
	return r, n
}

// matchClass matches c against the set that opens at pattern[open] ('['):
// whether it matched, the index after the closing ']', and whether the
// set is well-formed (closed). A ']' right after "[", "[!" or "[^" is a
// member, as in fnmatch(3); '\' quotes the next character.
func matchClass(pattern string, open int, c rune) (matched bool, next int, valid bool) {
	i := open + 1
	negate := i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^')
	if negate {
		i++
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		if pattern[i] == '\\' && i+1 < len(pattern) {
			i++
		}
		lo, l := char(pattern, i)
		i += l
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			i++
			if pattern[i] == '\\' && i+1 < len(pattern) {
				i++
			}
			hi, l = char(pattern, i)
			i += l
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}

// trimDirSlash removes the trailing slashes of a pattern ("dir/" names
// the directory).
func trimDirSlash(p string) string {
	if t := strings.TrimRight(p, "/"); t != "" {
		return t
	}
	return p
}
