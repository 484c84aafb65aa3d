package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// The stored documents are decoded with a small scanner of top-level
// fields that checks the JSON as it goes (eachFieldChecked) rather than
// json.Unmarshal: it reads only the few fields the counts need, allocates
// nothing for a plain string, and costs a fraction of json.Unmarshal. Its results match json.Unmarshal into the
// reference structs (see the differential fuzz test), including
// case-insensitive keys, last-one-wins duplicates and type errors.

var errNotObject = errors.New("not a JSON object")

// eachField calls f with every top-level key (raw, with its quotes) and
// value (raw) of data, which must be valid JSON. It fails if data is not
// an object.
func eachField(data []byte, f func(key, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		keyEnd := skipString(data, i)
		key := data[i:keyEnd]
		i = skipSpace(data, keyEnd)
		i = skipSpace(data, i+1) // the colon
		valueEnd := skipValue(data, i)
		if err := f(key, data[i:valueEnd]); err != nil {
			return err
		}
		i = skipSpace(data, valueEnd)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // the comma
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i].
func skipString(data []byte, i int) int {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	default: // number or literal
		for ; i < len(data); i++ {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
}

// keyIs reports whether the raw key names field, matched without regard
// to case as encoding/json matches struct fields.
func keyIs(rawKey []byte, field string) bool {
	inner := rawKey[1 : len(rawKey)-1]
	// Most keys differ from field in their first byte. Two ASCII bytes
	// that differ with case bit set are different letters, or a letter
	// and another character, or two characters that fold to nothing else.
	if len(inner) > 0 && inner[0] < utf8.RuneSelf && inner[0] != '\\' && inner[0]|0x20 != field[0]|0x20 {
		return false
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return bytes.EqualFold(inner, []byte(field))
	}
	var key string
	if json.Unmarshal(rawKey, &key) != nil {
		return false
	}
	return bytes.EqualFold([]byte(key), []byte(field))
}

// errWrongType is returned for a field whose value has the wrong JSON type.
var errWrongType = errors.New("wrong JSON type")

// stringValue returns a raw value as a string: null is "", anything but a
// string is errWrongType. Plain strings are returned without copying.
func stringValue(raw []byte) ([]byte, error) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return inner, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return nil, errWrongType
}
