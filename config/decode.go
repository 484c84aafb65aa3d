package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.Node tree and the Go value side by side instead
// of calling yaml.Unmarshal on the whole file. yaml.v3 reports at most
// "line N: field x not found in type T" and aborts on the first error returned
// by a custom unmarshaler; walking ourselves gives every error a key path and
// a line, collects all of them, and records where each key was written so
// that validation errors found later can point at the right line too.
//
// Structs whose exported fields all carry yaml tags are walked field by
// field, including prometheus/common's HTTPClientConfig and TLSConfig. Their
// UnmarshalYAML methods only apply DefaultHTTPClientConfig and call
// Validate(); this package does both itself (see setDefaults and validate),
// which is what lets unknown keys inside http_config be reported with their
// path. Everything else (scalars, Secret, Duration, URL, TLSVersion, ...) is a
// leaf decoded by yaml.v3 with the type's own unmarshaler.

// decoder holds the state of decoding one document.
type decoder struct {
	file string
	// lines maps a rendered key path to the line it was written on.
	lines map[string]int
	errs  []*Error
	// failed lists the values that could not be decoded. Validation errors at
	// or below them are dropped: "endpoints: required" after "endpoints:
	// expected a list" would only be noise.
	failed []keyPath
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}}
}

// parseDocument parses data into a single YAML document. It returns a nil node
// for input without any document (empty or only comments).
func parseDocument(data []byte) (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err, data)
	}
	var extra yaml.Node
	err := dec.Decode(&extra)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err, data)
	default:
		// Silently ignoring later documents would hide configuration the
		// user believes is active.
		return nil, &Error{Line: firstLine(&extra), Msg: "multiple YAML documents are not supported"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return &doc, nil
}

// pinnedYAMLVersion is the gopkg.in/yaml.v3 release whose error text
// syntaxError reads (TestYAMLVersionIsPinned compares it with the linked
// one). A document that does not parse has no yaml.Node to take a position
// from: yaml.v3 reports such errors only as text.
const pinnedYAMLVersion = "v3.0.1"

// yamlSyntaxError is the form of every error yaml.v3 returns for a document
// it cannot parse: "yaml: ", then "line N: " unless N would be 0.
var yamlSyntaxError = regexp.MustCompile(`(?s)^yaml: (?:line ([0-9]+): )?(.*)$`)

// syntaxError turns yaml.v3's "yaml: line N: problem" into an Error. Text
// of another form is kept whole, on line 1, so that an upgrade that
// changes the form still yields an error naming the file.
func syntaxError(err error, data []byte) *Error {
	m := yamlSyntaxError.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{Line: 1, Msg: "invalid YAML: " + err.Error()}
	}
	num, problem := m[1], m[2]
	if num != "" {
		n, convErr := strconv.Atoi(num)
		if convErr != nil {
			return &Error{Line: 1, Msg: "invalid YAML: " + problem}
		}
		if isParserProblem(problem) {
			n++
		}
		if problem == tabProblem {
			n = tabLine(data, n)
		}
		return &Error{Line: n, Msg: "invalid YAML: " + problem}
	}
	// yaml.v3 reports an unknown alias without a position; find its node.
	if name, ok := strings.CutPrefix(problem, "unknown anchor '"); ok {
		name = strings.TrimSuffix(name, "' referenced")
		return &Error{Line: aliasLine(data, name), Msg: "invalid YAML: " + problem}
	}
	// Everything else comes from the parser or scanner, which leave out
	// "line N: " when the problem is on the first line: yaml.v3 tests its
	// zero-based line number against 0.
	return &Error{Line: 1, Msg: "invalid YAML: " + problem}
}

// aliasLine returns the line of the first alias *name in data, whose anchor
// is not defined. It defines the anchor on a line of its own before the
// document, so that the document parses and the alias node carries its
// position; when that does not parse (the root is not a block mapping, or
// another alias is undefined too) it falls back to the first "*name" in
// the text.
func aliasLine(data []byte, name string) int {
	patched := append([]byte("__undefined_anchor__: &"+name+" ~\n"), data...)
	var doc yaml.Node
	if err := yaml.Unmarshal(patched, &doc); err == nil {
		if n := findAlias(&doc, name); n != nil {
			return n.Line - 1
		}
	}
	return lineOf(data, "*"+name)
}

// findAlias returns the first alias node of name below n, in document
// order. It does not follow aliases, so it always ends.
func findAlias(n *yaml.Node, name string) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Value == name {
		return n
	}
	for _, c := range n.Content {
		if found := findAlias(c, name); found != nil {
			return found
		}
	}
	return nil
}

// tabProblem is the scanner's complaint about a tab in indentation. yaml.v3
// reports it at the start of the plain scalar being scanned, which is the
// line before the tab when the tab continues that scalar's line.
const tabProblem = "found a tab character that violates indentation"

// tabLine returns the first line at or after from whose indentation holds
// a tab, or from when there is none.
func tabLine(data []byte, from int) int {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if i+1 < from {
			continue
		}
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return i + 1
		}
	}
	return from
}

// isParserProblem reports whether problem comes from yaml.v3's parser (as
// opposed to its scanner). yaml.v3 v3.0.1 (pinnedYAMLVersion) prints the parser's zero-based line
// numbers without adding one, so those need correcting. The strings are the
// complete list of parser problems in parserc.go; a scanner problem never
// uses one of them.
func isParserProblem(problem string) bool {
	switch problem {
	case "did not find expected <stream-start>",
		"did not find expected <document start>",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected key",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"found undefined tag handle",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found duplicate %TAG directive":
		return true
	}
	return false
}

// lineOf returns the 1-based line of the first occurrence of s in data, or 0.
func lineOf(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

func firstLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return doc.Line
}

// decodeDocument decodes doc onto cfg, which already holds the defaults.
func (d *decoder) decodeDocument(doc *yaml.Node, cfg *Config) {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		root = doc.Content[0]
	}
	d.lines[keyPath(nil).String()] = root.Line
	d.decode(root, reflect.ValueOf(cfg).Elem(), nil)
}

// decode fills v (settable) from node n, found at path p.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, p keyPath) {
	// Aliases cannot make this recurse forever: every step descends into a
	// field, element or pointee type, and none of the types is recursive.
	n = resolveAlias(n)
	switch {
	case isLeaf(v.Type()):
		d.decodeLeaf(n, v, p)
	case v.Kind() == reflect.Pointer:
		d.decodePointer(n, v, p)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, p)
	case v.Kind() == reflect.Slice:
		d.decodeSlice(n, v, p)
	case v.Kind() == reflect.Map:
		d.decodeMap(n, v, p)
	}
}

// decodeLeaf lets yaml.v3 decode a scalar-like value, using the type's
// UnmarshalYAML if it has one, and rewrites any failure into our format.
func (d *decoder) decodeLeaf(n *yaml.Node, v reflect.Value, p keyPath) {
	if isTruncatedInteger(n, v.Type()) {
		d.typeError(p, n, leafMessage(n, v.Type(), nil))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.typeError(p, n, leafMessage(n, v.Type(), err))
	}
}

// isTruncatedInteger reports whether n is a non-integer scalar (such as 1.5)
// headed for a plain integer type: yaml.v3 would silently truncate it.
func isTruncatedInteger(n *yaml.Node, t reflect.Type) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.ShortTag() == "!!int" || hasUnmarshaler(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// decodePointer allocates the pointed-to value (with its defaults) and decodes
// into it. A key present with an empty value ("etcd:") still allocates: the
// user chose that section, so missing required keys inside it are reported
// rather than the section silently disappearing.
func (d *decoder) decodePointer(n *yaml.Node, v reflect.Value, p keyPath) {
	if v.IsNil() {
		v.Set(newWithDefaults(v.Type().Elem()))
	}
	d.decode(n, v.Elem(), p)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, p keyPath) {
	if isNull(n) {
		return // keep the defaults, as yaml.v3 does
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(p, n, fmt.Sprintf("expected a mapping, got %s", describeNode(n)))
		return
	}
	fields := fieldsOf(v.Type())
	for _, e := range d.entries(n, p) {
		name := e.key.Value
		kp := p.key(name)
		if idx, ok := fields.byKey[name]; ok {
			d.lines[kp.String()] = e.key.Line
			d.decode(e.value, v.FieldByIndex(idx), kp)
			continue
		}
		if fields.inlineMap != nil {
			m := v.FieldByIndex(fields.inlineMap)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			d.decodeMapEntry(m, e, p)
			continue
		}
		d.fail(kp, e.key.Line, "unknown key (valid keys: %s)", strings.Join(fields.keys, ", "))
	}
}

// decodeSlice replaces the slice with the file's list; list elements start
// from their type's defaults.
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, p keyPath) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.typeError(p, n, fmt.Sprintf("expected a list, got %s", describeNode(n)))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := p.index(i)
		d.lines[ip.String()] = item.Line
		elem := out.Index(i)
		applyDefaults(elem)
		d.decode(item, elem, ip)
	}
	v.Set(out)
}

// decodeMap adds the file's entries to the map, like yaml.v3 does.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, p keyPath) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(p, n, fmt.Sprintf("expected a mapping, got %s", describeNode(n)))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, e := range d.entries(n, p) {
		d.decodeMapEntry(v, e, p)
	}
}

// decodeMapEntry decodes one key/value pair of the mapping at p into m.
func (d *decoder) decodeMapEntry(m reflect.Value, e entry, p keyPath) {
	kp := p.key(e.key.Value)
	d.lines[kp.String()] = e.key.Line
	key := reflect.New(m.Type().Key()).Elem()
	if err := e.key.Decode(key.Addr().Interface()); err != nil {
		d.typeError(kp, e.key, leafMessage(e.key, key.Type(), err))
		return
	}
	val := reflect.New(m.Type().Elem()).Elem()
	applyDefaults(val)
	d.decode(e.value, val, kp)
	m.SetMapIndex(key, val)
}

// entry is one key/value pair of a mapping.
type entry struct {
	key, value *yaml.Node
}

// entries returns the pairs of mapping n, after expanding merge keys ("<<")
// and dropping (and reporting) duplicate keys. Keys written in n itself take
// precedence over merged ones, as the YAML merge key spec requires.
func (d *decoder) entries(n *yaml.Node, p keyPath) []entry {
	var own, merged []entry
	seen := map[string]int{} // key -> line of its first occurrence
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merged = append(merged, d.mergeEntries(val, p)...)
		case k.Kind != yaml.ScalarNode:
			d.fail(p, k.Line, "mapping keys must be scalars, got %s", describeNode(k))
		default:
			if first, dup := seen[k.Value]; dup {
				d.fail(p.key(k.Value), k.Line, "duplicate key (first defined at line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
			own = append(own, entry{key: k, value: val})
		}
	}
	out := make([]entry, 0, len(merged)+len(own))
	for _, e := range merged {
		if _, ok := seen[e.key.Value]; !ok {
			seen[e.key.Value] = e.key.Line
			out = append(out, e)
		}
	}
	return append(out, own...)
}

// mergeEntries returns the pairs contributed by the value of a merge key: a
// mapping or a list of mappings, earlier ones taking precedence.
func (d *decoder) mergeEntries(val *yaml.Node, p keyPath) []entry {
	val = resolveAlias(val)
	switch val.Kind {
	case yaml.MappingNode:
		return d.entries(val, p)
	case yaml.SequenceNode:
		var out []entry
		for _, item := range val.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.MappingNode {
				d.fail(p, item.Line, "merge key (<<) list items must be mappings, got %s", describeNode(item))
				continue
			}
			out = append(out, d.entries(item, p)...)
		}
		return out
	default:
		d.fail(p, val.Line, "merge key (<<) value must be a mapping or a list of mappings, got %s", describeNode(val))
		return nil
	}
}

// fail records an error at path p, line line.
func (d *decoder) fail(p keyPath, line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// typeError records that the value at p could not be decoded.
func (d *decoder) typeError(p keyPath, n *yaml.Node, msg string) {
	d.fail(p, n.Line, "%s", msg)
	d.failed = append(d.failed, p)
}

// addValidationError records a validation error, located at the line of the
// nearest key on its path that the file contains (for a missing required key:
// its parent mapping). Errors below a value that failed to decode are dropped.
func (d *decoder) addValidationError(pe pathError) {
	for _, f := range d.failed {
		if pe.path.hasPrefix(f) {
			return
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: d.lineFor(pe.path), Path: pe.path.String(), Msg: pe.msg})
}

func (d *decoder) lineFor(p keyPath) int {
	for i := len(p); i >= 0; i-- {
		if line, ok := d.lines[p[:i].String()]; ok {
			return line
		}
	}
	return 0
}

// resolveAlias follows *anchor references to the anchored node.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// newWithDefaults returns a pointer to a new value of type t with its
// defaults applied.
func newWithDefaults(t reflect.Type) reflect.Value {
	ptr := reflect.New(t)
	applyDefaults(ptr.Elem())
	return ptr
}

func applyDefaults(v reflect.Value) {
	if !v.CanAddr() {
		return
	}
	if df, ok := v.Addr().Interface().(defaulter); ok {
		df.setDefaults()
	}
}

// isLeaf reports whether values of type t are decoded by yaml.v3 directly
// rather than walked.
func isLeaf(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return !isWalkableStruct(t)
	case reflect.Slice, reflect.Map:
		return hasUnmarshaler(t)
	default:
		return true
	}
}

// isWalkableStruct reports whether every exported field of t has a yaml tag,
// i.e. the struct describes a YAML mapping. Structs like config.URL (which
// wraps *url.URL) do not, and are decoded by their own UnmarshalYAML.
func isWalkableStruct(t reflect.Type) bool {
	tagged := 0
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := f.Tag.Lookup("yaml"); !ok {
			return false
		}
		tagged++
	}
	return tagged > 0
}

func hasUnmarshaler(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(reflect.TypeFor[yaml.Unmarshaler]()) ||
		pt.Implements(reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]())
}

// structFields describes how the keys of a mapping map to a struct's fields.
type structFields struct {
	byKey     map[string][]int // key -> field index path, through inline structs
	keys      []string         // valid keys in declaration order, for messages
	inlineMap []int            // field index path of an ",inline" map taking all other keys
}

func fieldsOf(t reflect.Type) structFields {
	sf := structFields{byKey: map[string][]int{}}
	sf.add(t, nil)
	return sf
}

// add registers the fields of struct type t, whose index path is prefix.
func (sf *structFields) add(t reflect.Type, prefix []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if hasOption(opts, "inline") {
			switch f.Type.Kind() {
			case reflect.Struct:
				sf.add(f.Type, idx)
			case reflect.Map:
				sf.inlineMap = idx
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		sf.byKey[name] = idx
		sf.keys = append(sf.keys, name)
	}
}

func hasOption(opts, want string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == want {
			return true
		}
	}
	return false
}

// leafMessage explains why node n could not be decoded into type t.
func leafMessage(n *yaml.Node, t reflect.Type, err error) string {
	what, showCause := describeType(t)
	if n.Kind != yaml.ScalarNode {
		return fmt.Sprintf("expected %s, got %s", what, describeNode(n))
	}
	value := n.Value
	// URLs may carry a password, and url.Error would repeat it.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		value, err = redactURL(value), urlErr.Err
	}
	var te *yaml.TypeError
	if err == nil || errors.As(err, &te) || !showCause {
		return fmt.Sprintf("cannot parse %q as %s", value, what)
	}
	return fmt.Sprintf("cannot parse %q as %s: %v", value, what, err)
}

// describeType names t for error messages. showCause is false for types
// whose parse errors add nothing to the name.
func describeType(t reflect.Type) (what string, showCause bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[model.Duration]():
		return "a duration (such as 30s, 5m or 1h)", false
	case reflect.TypeFor[config.URL]():
		return "a URL", true
	case reflect.TypeFor[config.TLSVersion]():
		return "a TLS version (TLS10, TLS11, TLS12 or TLS13)", false
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)", false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer", false
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer", false
	case reflect.Float32, reflect.Float64:
		return "a number", false
	case reflect.String:
		return "a string", false
	case reflect.Slice:
		return "a list", true
	case reflect.Map, reflect.Struct:
		return "a mapping", true
	}
	return t.String(), true
}

// describeNode names what the user wrote, for "expected X, got Y" messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported node"
}
