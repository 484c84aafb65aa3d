package servicecenter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DumpCache streams the cache of a Service Center's own dump (GET
// /v4/default/admin/dump?options=cache) through to w: the value of its
// "cache" member, entry by entry, as Service Center wrote it. Each entry is
// checked to be one JSON value before it is passed on, and only one is held
// at a time, so memory does not grow with the registry and w never receives
// malformed JSON from a broken answer.
//
// The endpoints are tried healthy ones first, in configuration order, until
// one answers; once part of the dump has been written to w, an error ends
// the dump (the caller must not present it as complete).
func (s *Source) DumpCache(ctx context.Context, w io.Writer) error {
	var failures []string
	// From the first endpoint: the one the poll used last (s.current) is
	// the poll goroutine's to read.
	for _, i := range s.candidates(0) {
		ep := s.endpoints[i]
		cw := &countingWriter{w: w}
		err := s.streamCache(ctx, ep, cw)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.endpointFailed(ep, fmt.Errorf("cache dump: %w", err))
		if cw.n > 0 {
			return fmt.Errorf("servicecenter source %s: %s: cache dump: %w", s.opts.Name, ep.name, err)
		}
		failures = append(failures, fmt.Sprintf("%s: %v", ep.name, err))
	}
	return fmt.Errorf("servicecenter source %s: no endpoint answered the cache dump: %s", s.opts.Name, strings.Join(failures, "; "))
}

func (s *Source) streamCache(ctx context.Context, ep *endpoint, w io.Writer) error {
	resp, cancel, err := s.get(ctx, ep, pathDump, http.Header{"X-Domain-Name": {"default"}}, true)
	if err != nil {
		return err
	}
	defer cancel()
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return s.newStatusError(ep, "GET "+pathDump, resp)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := passCache(json.NewDecoder(resp.Body), bw); err != nil {
		return err
	}
	return bw.Flush()
}

// passCache copies the value of the "cache" member of a dump from dec to
// w. Every member of the cache that is an array is copied element by
// element; other members are copied whole (Service Center has none).
func passCache(dec *json.Decoder, w *bufio.Writer) error {
	tok, err := dec.Token()
	if err == io.EOF {
		return errEmptyDump
	}
	if err := expectDelim(tok, err, '{'); err != nil {
		return err
	}
	sawCache := false
	for dec.More() {
		name, err := fieldName(dec)
		if err != nil {
			return err
		}
		if name != "cache" || sawCache {
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		sawCache = true
		if err := passObject(dec, w); err != nil {
			return err
		}
	}
	if err := expectDelim(dec.Token()); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the dump")
		}
		return fmt.Errorf("decoding dump: %w", err)
	}
	if !sawCache {
		return errors.New("decoding dump: no cache in the dump")
	}
	return nil
}

// passObject copies the cache object; null is written as {}.
func passObject(dec *json.Decoder, w *bufio.Writer) error {
	tok, err := dec.Token()
	if tok == nil && err == nil {
		_, err := w.WriteString("{}")
		return err
	}
	if err := expectDelim(tok, err, '{'); err != nil {
		return err
	}
	_ = w.WriteByte('{')
	var raw json.RawMessage
	for first := true; dec.More(); first = false {
		name, err := fieldName(dec)
		if err != nil {
			return err
		}
		if !first {
			_ = w.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		_, _ = w.Write(key)
		_ = w.WriteByte(':')
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decoding dump: %w", unexpectedEOF(err))
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			// A scalar (the decoder has read it whole) or an object,
			// which Service Center's cache does not have: refuse it
			// rather than hold it.
			if ok {
				return fmt.Errorf("decoding dump: cache member %s is not an array", key)
			}
			v, _ := json.Marshal(tok)
			_, _ = w.Write(v)
			continue
		}
		_ = w.WriteByte('[')
		for n := 0; dec.More(); n++ {
			raw = raw[:0]
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("decoding dump: %s: %w", key, unexpectedEOF(err))
			}
			if n > 0 {
				_ = w.WriteByte(',')
			}
			if _, err := w.Write(raw); err != nil {
				return err // the client is gone: stop reading
			}
		}
		if err := expectDelim(dec.Token()); err != nil {
			return err
		}
		if err := w.WriteByte(']'); err != nil {
			return err
		}
	}
	if err := expectDelim(dec.Token()); err != nil {
		return err
	}
	return w.WriteByte('}')
}

// countingWriter counts what reached w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
