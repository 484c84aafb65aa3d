package etcd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/go-kit/log/level"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/registry"
	"github.com/servicecomb/servicecomb_exporter/source/internal/sourcekit"
)

// The parts DumpCache reads, in order. The projects come first, not
// dumped, for the split points of the instances prefix (see lister).
const (
	dumpProjects = iota
	dumpServices
	dumpIndexes
	dumpAliases
	dumpInstances
)

// dumpNames are the members of Service Center's dump cache, in its order.
var dumpNames = [...]string{
	dumpServices:  "services",
	dumpIndexes:   "serviceIndexes",
	dumpAliases:   "serviceAliases",
	dumpInstances: "instances",
}

func (s *Source) dumpParts() []listPart {
	root := s.layout.Root()
	return []listPart{
		dumpProjects:  {prefix: s.layout.Prefix(registry.KindProject), kind: registry.KindProject},
		dumpServices:  {prefix: s.layout.Prefix(registry.KindService), kind: registry.KindService},
		dumpIndexes:   {prefix: root + "ms/indexes/", kind: registry.KindOther},
		dumpAliases:   {prefix: root + "ms/alias/", kind: registry.KindOther},
		dumpInstances: {prefix: s.layout.Prefix(registry.KindInstance), kind: registry.KindInstance},
	}
}

// DumpCache writes the registry as Service Center writes the cache of its
// dump API (GET /v4/default/admin/dump?options=cache):
//
//	{"services":[{"key","rev","cluster","value":{MicroService}},…],
//	 "serviceIndexes":[…,"value":"serviceId"], "serviceAliases":[…],
//	 "instances":[…,"value":{Instance}]}
//
// with the source's name as cluster and each key's mod revision as rev;
// empty members are left out, as Service Center does. The keys are read at
// one revision with the ranged paging of the sync (see lister), one page at
// a time, so memory does not grow with the registry. The connection is the
// request's own: a dump does not disturb the running watch.
//
// Service and instance values that are not JSON objects are left out (the
// sync counts them as decode errors) and logged once per dump. On error,
// part of the dump may have been written already.
func (s *Source) DumpCache(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Connect and probe within the probe timeout, not the dial and request
	// timeouts, so that a caller waits seconds for the error when etcd is
	// not there.
	cfg := s.clientCfg
	cfg.Context = ctx
	cfg.DialTimeout = min(cfg.DialTimeout, s.opts.ProbeTimeout)
	client, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("etcd source %s (%s): connecting: %w", s.opts.Name, s.endpoints, err)
	}
	defer client.Close()
	if err := s.probe(ctx, client); err != nil {
		return fmt.Errorf("etcd source %s (%s): %w", s.opts.Name, s.endpoints, err)
	}

	// One range at a time: the dump is written in key order.
	pages, stop := s.fetchPages(ctx, client, s.dumpParts(), 1)
	defer stop()

	cw := newCacheWriter(w, s.opts.Name)
	for p := range pages {
		if p.err != nil {
			return fmt.Errorf("etcd source %s (%s): reading the registry: %w", s.opts.Name, s.endpoints, p.err)
		}
		if p.part == dumpProjects {
			continue
		}
		for _, key := range p.oversized {
			cw.skip(key) // over the page limit: never received
		}
		for _, kv := range p.kvs {
			cw.entry(p.part, kv)
		}
		if cw.err != nil {
			return cw.err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cw.close(); err != nil {
		return err
	}
	if cw.skipped > 0 {
		level.Warn(s.opts.Logger).Log("msg", "cache dump left out entries whose value is not a JSON object or is over the page limit",
			"entries", cw.skipped, "first_key", sourcekit.TruncateKey(cw.firstSkipped))
	}
	return nil
}

// cacheWriter writes the JSON object of a cache dump entry by entry.
type cacheWriter struct {
	bw      *bufio.Writer
	cluster []byte // the cluster name as a JSON string
	part    int    // the part whose array is open; -1 before the first
	buf     []byte // one entry, reused
	err     error

	skipped      int
	firstSkipped []byte
}

func newCacheWriter(w io.Writer, cluster string) *cacheWriter {
	return &cacheWriter{
		bw:      bufio.NewWriterSize(w, 64<<10),
		cluster: appendJSONString(nil, []byte(cluster)),
		part:    -1,
	}
}

func (c *cacheWriter) entry(part int, kv *mvccpb.KeyValue) {
	if c.err != nil {
		return
	}
	object := part == dumpServices || part == dumpInstances
	if object && !isJSONObject(kv.Value) {
		c.skip(kv.Key)
		return
	}
	b := c.buf[:0]
	switch {
	case c.part == -1:
		b = append(b, '{')
	case c.part != part:
		b = append(b, "],"...)
	default:
		b = append(b, ',')
	}
	if c.part != part {
		b = append(b, '"')
		b = append(b, dumpNames[part]...)
		b = append(b, `":[`...)
		c.part = part
	}
	b = append(b, `{"key":`...)
	b = appendJSONString(b, kv.Key)
	b = append(b, `,"rev":`...)
	b = strconv.AppendInt(b, kv.ModRevision, 10)
	b = append(b, `,"cluster":`...)
	b = append(b, c.cluster...)
	b = append(b, `,"value":`...)
	if object {
		b = append(b, kv.Value...)
	} else {
		b = appendJSONString(b, kv.Value)
	}
	b = append(b, '}')
	c.buf = b
	_, c.err = c.bw.Write(b)
}

func (c *cacheWriter) close() error {
	if c.err != nil {
		return c.err
	}
	if c.part == -1 {
		_, c.err = c.bw.WriteString("{}")
	} else {
		_, c.err = c.bw.WriteString("]}")
	}
	if c.err != nil {
		return c.err
	}
	return c.bw.Flush()
}

// isJSONObject reports whether v is one valid JSON object.
func isJSONObject(v []byte) bool {
	t := bytes.TrimLeft(v, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// appendJSONString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but not valid JavaScript;
		// encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// skip counts an entry left out of the dump.
func (c *cacheWriter) skip(key []byte) {
	if c.skipped == 0 {
		c.firstSkipped = bytes.Clone(key)
	}
	c.skipped++
}
