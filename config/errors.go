package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Load and LoadBytes
// return one or more of them joined with errors.Join, so callers can both
// print the whole list (one error per line) and inspect single entries with
// errors.As.
type Error struct {
	File string // file name as given to Load / LoadBytes
	Line int    // 1-based line; 0 when the problem has no position
	Path string // dotted key path such as "sources[0].etcd.endpoints"; empty for the document itself
	Msg  string
}

// Error formats the problem as "FILE:LINE: PATH: message", leaving out the
// parts that are unknown so the text never contains empty fields.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinErrors orders errs by position so the output reads top to bottom like
// the file, and joins them into a single error (nil when there are none).
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// keyPath is the location of a value in the document, one element per
// mapping key or list index. Keeping segments (instead of a string) makes it
// trivial to walk up to the parent when a key is missing from the file.
type keyPath []string

// key returns the path of the mapping entry k below p.
func (p keyPath) key(k string) keyPath {
	if !isPlainKey(k) {
		k = "[" + strconv.Quote(k) + "]"
	}
	return p.with(k)
}

// index returns the path of list element i below p.
func (p keyPath) index(i int) keyPath {
	return p.with("[" + strconv.Itoa(i) + "]")
}

// with appends seg without ever sharing the backing array with p, since
// sibling paths are derived from the same parent.
func (p keyPath) with(seg string) keyPath {
	out := make(keyPath, len(p), len(p)+1)
	copy(out, p)
	return append(out, seg)
}

// String renders the path as "a.b[0].c".
func (p keyPath) String() string {
	var b strings.Builder
	for i, seg := range p {
		if i > 0 && !strings.HasPrefix(seg, "[") {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// hasPrefix reports whether p is prefix or lies below it.
func (p keyPath) hasPrefix(prefix keyPath) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i := range prefix {
		if p[i] != prefix[i] {
			return false
		}
	}
	return true
}

// isPlainKey reports whether k can be written after a dot without making the
// path ambiguous; other keys (empty, containing dots, brackets or spaces) are
// rendered quoted in brackets.
func isPlainKey(k string) bool {
	if k == "" {
		return false
	}
	return !strings.ContainsAny(k, ".[]\" \t\n")
}

// pathError is a problem found after decoding, before it has been given a
// line number from the document.
type pathError struct {
	path keyPath
	msg  string
}

func errorf(p keyPath, format string, args ...any) pathError {
	return pathError{path: p, msg: fmt.Sprintf(format, args...)}
}
