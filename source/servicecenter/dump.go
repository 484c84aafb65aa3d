package servicecenter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// errEmptyDump: Service Center answers 200 with an empty body when it
// cannot dump (for instance for a domain other than default).
var errEmptyDump = errors.New("empty dump")

// fetchRegistry reads and counts the dump of ep. Decode errors are counted
// in the returned array, to be added to the totals only if the poll
// succeeds.
func (s *Source) fetchRegistry(ctx context.Context, ep *endpoint) (*registry.State, []instanceID, [registry.NumKinds]uint64, error) {
	var decodeErrs [registry.NumKinds]uint64
	resp, cancel, err := s.get(ctx, ep, pathDump, http.Header{"X-Domain-Name": {"default"}}, true)
	if err != nil {
		return nil, nil, decodeErrs, fmt.Errorf("dump: %w", err)
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, nil, decodeErrs, fmt.Errorf("dump: %w", s.newStatusError(ep, "GET "+pathDump, resp))
	}
	onError := func(kind registry.Kind, key []byte, err error) {
		decodeErrs[kind]++
		s.decodeErrors.Log(s.opts.Logger, kind, key, err, s.decodeErrors.Load(kind)+decodeErrs[kind])
	}
	var ids []instanceID
	state, err := parseDumpWith(resp.Body, s.layout, s.opts.Rules, onError, func(key []byte) {
		if id, ok := s.instances.id(key); ok {
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, nil, decodeErrs, fmt.Errorf("dump: %w", err)
	}
	return state, ids, decodeErrs, nil
}

// dumpParser reads the body of GET /v4/default/admin/dump?options=cache:
//
//	{"cache":{"services":[{"key":…,"rev":…,"value":{MicroService}}, …],
//	          "serviceIndexes":[…], "serviceAliases":[…],
//	          "summaries":[{"key":…,"value":"…"}, …],
//	          "instances":[{"key":…,"value":{Instance}}, …], …}}
//
// "summaries" are the schema summary keys (Service Center's dump.Cache in
// pkg/dump/dump.go, filled from the same cache its
// service_center_db_schema_total counts); they are counted by key, and left
// out of the dump when there are none.
//
// It streams the body token by token: only one entry of the services and
// instances arrays is held at a time, and the other arrays are skipped
// token by token. Every entry is applied as a Put to a fresh registry.State.
//
// Services must be applied before instances, so that the instances of
// Service Center's global services are known to be global (see
// registry.ListOrder). The recorded dumps list services first; if a dump
// listed instances first, their keys and values would be kept until the
// services are applied: the only case in which more than one entry is held.
type dumpParser struct {
	dec     *json.Decoder
	layout  registry.Layout
	state   *registry.State
	onError registry.DecodeErrorFunc
	// onInstance, if set, hears the key of every instance entry applied.
	onInstance func(key []byte)

	sawCache    bool
	sawServices bool
	pending     []registry.Event // instances that came before the services

	// seen holds "domain/project" of every valid service and instance key,
	// for the domain and project keys the dump does not list.
	seen map[string]struct{}

	entry dumpEntry // reused: its buffers keep their capacity
	key   []byte
}

type dumpEntry struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// parseDump parses a dump and returns the counted state. Bad entries go to
// onError and are skipped; a malformed, truncated or empty body is an error.
func parseDump(r io.Reader, layout registry.Layout, rules registry.Rules, onError registry.DecodeErrorFunc) (*registry.State, error) {
	return parseDumpWith(r, layout, rules, onError, nil)
}

// parseDumpWith is parseDump that also tells onInstance, if set, the key of
// every instance entry under the instances prefix.
func parseDumpWith(r io.Reader, layout registry.Layout, rules registry.Rules, onError registry.DecodeErrorFunc,
	onInstance func(key []byte)) (*registry.State, error) {
	if onError == nil {
		onError = func(registry.Kind, []byte, error) {}
	}
	p := &dumpParser{
		dec:        json.NewDecoder(r),
		layout:     layout,
		state:      registry.NewState(layout, rules, onError),
		onError:    onError,
		onInstance: onInstance,
		seen:       map[string]struct{}{},
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.state, nil
}

func (p *dumpParser) parse() error {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return errEmptyDump
	}
	if err := expectDelim(tok, err, '{'); err != nil {
		return err
	}
	for p.dec.More() {
		name, err := fieldName(p.dec)
		if err != nil {
			return err
		}
		if name != "cache" {
			if err := skipValue(p.dec); err != nil {
				return err
			}
			continue
		}
		if err := p.parseCache(); err != nil {
			return err
		}
	}
	if err := expectDelim(p.dec.Token()); err != nil {
		return err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the dump")
		}
		return fmt.Errorf("decoding dump: %w", err)
	}
	if !p.sawCache {
		return errors.New("decoding dump: no cache in the dump")
	}
	for _, e := range p.pending {
		p.apply(registry.KindInstance, e.Key, e.Value)
	}
	p.pending = nil
	for dp := range p.seen {
		i := strings.IndexByte(dp, '/')
		domain, project := dp[:i], dp[i+1:]
		p.state.Apply(registry.Event{Type: registry.Put, Key: []byte(p.layout.DomainKey(domain))})
		p.state.Apply(registry.Event{Type: registry.Put, Key: []byte(p.layout.ProjectKey(domain, project))})
	}
	return nil
}

func (p *dumpParser) parseCache() error {
	p.sawCache = true
	tok, err := p.dec.Token()
	if tok == nil && err == nil { // "cache": null
		return nil
	}
	if err := expectDelim(tok, err, '{'); err != nil {
		return err
	}
	for p.dec.More() {
		name, err := fieldName(p.dec)
		if err != nil {
			return err
		}
		switch name {
		case "services":
			err = p.parseEntries(registry.KindService)
			p.sawServices = true
		case "instances":
			err = p.parseEntries(registry.KindInstance)
		case "summaries":
			err = p.parseEntries(registry.KindSchema)
		default:
			err = skipValue(p.dec)
		}
		if err != nil {
			return err
		}
	}
	return expectDelim(p.dec.Token())
}

// parseEntries reads an array of {"key","value"} entries of one kind.
func (p *dumpParser) parseEntries(kind registry.Kind) error {
	tok, err := p.dec.Token()
	if tok == nil && err == nil { // null: none
		return nil
	}
	if err := expectDelim(tok, err, '['); err != nil {
		return err
	}
	for p.dec.More() {
		e := &p.entry
		e.Key, e.Value = e.Key[:0], e.Value[:0]
		if err := p.dec.Decode(e); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return fmt.Errorf("decoding dump: %w", err)
			}
			// The entry was read whole but is not an object of the
			// expected shape: count it and go on.
			p.onError(kind, nil, fmt.Errorf("%w: dump entry: %v", registry.ErrBadValue, err))
			continue
		}
		key, ok := p.decodeKey(e.Key)
		if !ok {
			p.onError(kind, e.Key, fmt.Errorf("%w: dump entry key is not a string", registry.ErrBadKey))
			continue
		}
		if kind == registry.KindInstance && !p.sawServices {
			p.pending = append(p.pending, registry.Event{Key: bytes.Clone(key), Value: bytes.Clone(e.Value)})
			continue
		}
		p.apply(kind, key, e.Value)
	}
	return expectDelim(p.dec.Token())
}

// apply counts one entry found in the array of kind.
func (p *dumpParser) apply(kind registry.Kind, key, value []byte) {
	prefix := p.layout.Prefix(kind)
	if !bytes.HasPrefix(key, []byte(prefix)) {
		p.onError(kind, key, fmt.Errorf("%w: want a key under %s", registry.ErrBadKey, prefix))
		return
	}
	if len(value) == 0 { // no value at all: let State report it as bad
		value = nil
	}
	if kind == registry.KindInstance && p.onInstance != nil {
		p.onInstance(key)
	}
	if kind == registry.KindSchema {
		// Counted by key; a schema makes no domain or project of its own.
		_, _ = p.state.Apply(registry.Event{Type: registry.Put, Key: key})
		return
	}
	p.noteDomainProject(key[len(prefix):], key)
	// State only returns ErrInconsistent, which a Put on a fresh state
	// never causes: a count only grows.
	_, _ = p.state.Apply(registry.Event{Type: registry.Put, Key: key, Value: value})
}

// noteDomainProject remembers the domain and project of a valid key; rest
// is the key after its kind's prefix.
func (p *dumpParser) noteDomainProject(rest, key []byte) {
	i := bytes.IndexByte(rest, '/')
	if i <= 0 {
		return
	}
	j := bytes.IndexByte(rest[i+1:], '/')
	if j <= 0 {
		return
	}
	dp := rest[:i+1+j]
	if _, ok := p.seen[string(dp)]; ok {
		return
	}
	if _, err := p.layout.Parse(key); err == nil {
		p.seen[string(dp)] = struct{}{}
	}
}

// decodeKey returns the key of a raw JSON string, without copying when it
// has no escapes. The result is valid until the next entry is decoded.
func (p *dumpParser) decodeKey(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false
	}
	p.key = append(p.key[:0], s...)
	return p.key, true
}

// fieldName reads the name of the next field of an object.
func fieldName(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("decoding dump: %w", unexpectedEOF(err))
	}
	name, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("decoding dump: want a field name, got %v", tok)
	}
	return name, nil
}

// expectDelim checks that a token read from the decoder is the delimiter
// want (any closing delimiter when want is omitted).
func expectDelim(tok json.Token, err error, want ...json.Delim) error {
	if err != nil {
		return fmt.Errorf("decoding dump: %w", unexpectedEOF(err))
	}
	d, ok := tok.(json.Delim)
	if ok && len(want) == 0 && (d == '}' || d == ']') {
		return nil
	}
	if !ok || len(want) == 0 || d != want[0] {
		return fmt.Errorf("decoding dump: unexpected %v", tok)
	}
	return nil
}

// skipValue consumes one value token by token, so that arrays the source
// does not count are never held whole.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decoding dump: %w", unexpectedEOF(err))
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// unexpectedEOF: inside the document, the end of the body means it was
// truncated.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
