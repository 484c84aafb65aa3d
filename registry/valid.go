package registry

import "errors"

// validJSON reports whether data is one JSON value, as json.Valid does, in
// a single pass of plain loops: json.Valid's scanner calls a function per
// byte, and was 40 % of the decoding of a sync. Like json.Valid it does
// not check UTF-8 (checkValue does, before) and refuses nesting deeper
// than 10,000. FuzzDecodeMatchesEncodingJSON and TestValidJSON check it
// against encoding/json.
func validJSON(data []byte) bool {
	i, ok := validValue(data, skipSpace(data, 0), 0)
	return ok && skipSpace(data, i) == len(data)
}

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

// validValue checks the value at data[i:], depth arrays and objects deep,
// and returns the index after it.
func validValue(data []byte, i, depth int) (int, bool) {
	if i >= len(data) {
		return i, false
	}
	switch c := data[i]; {
	case c == '"':
		return validString(data, i)
	case c == '{':
		return validObject(data, i, depth+1)
	case c == '[':
		return validArray(data, i, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(data, i)
	case c == 't':
		return validLiteral(data, i, "true")
	case c == 'f':
		return validLiteral(data, i, "false")
	case c == 'n':
		return validLiteral(data, i, "null")
	}
	return i, false
}

func validObject(data []byte, i, depth int) (int, bool) {
	if depth > maxNestingDepth {
		return i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = validString(data, i); !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ':' {
			return i, false
		}
		if i, ok = validValue(data, skipSpace(data, i+1), depth); !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, false
		}
		switch data[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipSpace(data, i+1)
		default:
			return i, false
		}
	}
}

func validArray(data []byte, i, depth int) (int, bool) {
	if depth > maxNestingDepth {
		return i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = validValue(data, i, depth); !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ']':
			return i + 1, true
		case ',':
			i = skipSpace(data, i+1)
		default:
			return i, false
		}
	}
}

// validString checks the string starting at data[i] (a quote): no control
// character, only JSON's escapes.
func validString(data []byte, i int) (int, bool) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(data) {
				return i, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return i, false
				}
				for _, h := range data[i+1 : i+5] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at data[i].
func validNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(data, i)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func validLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// errMalformed reports a value that is not JSON.
var errMalformed = errors.New("malformed JSON")

// eachFieldChecked is eachField and validJSON in one pass: it calls f with
// every top-level key (raw, with its quotes) and value (raw) of data while
// checking that data is one JSON value, and fails with errMalformed if it
// is not, else with errNotObject if it is not an object, else with f's
// first error (f is not called after it).
func eachFieldChecked(data []byte, f func(key, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		if validJSON(data) {
			return errNotObject
		}
		return errMalformed
	}
	var ferr error
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return errMalformed
			}
			keyStart := i
			keyEnd, ok := validString(data, i)
			if !ok {
				return errMalformed
			}
			i = skipSpace(data, keyEnd)
			if i >= len(data) || data[i] != ':' {
				return errMalformed
			}
			start := skipSpace(data, i+1)
			end, ok := validValue(data, start, 1)
			if !ok {
				return errMalformed
			}
			if ferr == nil {
				ferr = f(data[keyStart:keyEnd], data[start:end])
			}
			i = skipSpace(data, end)
			if i >= len(data) {
				return errMalformed
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return errMalformed
			}
			i = skipSpace(data, i+1)
		}
	}
	if skipSpace(data, i) != len(data) {
		return errMalformed
	}
	return ferr
}
