package archive

import (
	"fmt"
	"strings"
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
// match '/' and leading dots too. As '*' matches anything, retrying from
// the last '*' seen is enough (no deeper backtracking).
func wildMatch(pattern, name string) bool {
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, next, valid := matchClass(pattern, p, name[n]); valid {
					if ok {
						p, n = next, n+1
						continue
					}
					break
				}
				if name[n] == '[' { // no closing ']': a plain '['
					p, n = p+1, n+1
					continue
				}
			case '\\':
				lit := byte('\\')
				if p+1 < len(pattern) {
					lit = pattern[p+1]
				}
				if name[n] == lit {
					p, n = min(p+2, len(pattern)), n+1
					continue
				}
			default:
				if name[n] == c {
					p, n = p+1, n+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		p, n = starP+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the set that opens at pattern[open] ('['):
// whether it matched, the index after the closing ']', and whether the
// set is well-formed (closed). A ']' right after "[", "[!" or "[^" is a
// member, as in fnmatch(3).
func matchClass(pattern string, open int, c byte) (matched bool, next int, valid bool) {
	i := open + 1
	negate := i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^')
	if negate {
		i++
	}
	first := true
	for i < len(pattern) {
		lo := pattern[i]
		if lo == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				i++
				hi = pattern[i+2]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
		i++
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
