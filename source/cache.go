package source

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// CacheDumper is a source that can stream its registry in the shape of
// Service Center's dump cache (see etcd.Source.DumpCache and
// servicecenter.Source.DumpCache).
type CacheDumper interface {
	DumpCache(ctx context.Context, w io.Writer) error
}

// CacheDumper returns the named source for the dump API's cache option, or
// the first configured source when name is empty. It returns nil and no
// error when no source is configured, and an error naming the configured
// sources when name is not one of them.
func (m *Manager) CacheDumper(name string) (CacheDumper, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == "" {
		if len(m.order) == 0 {
			return nil, nil
		}
		name = m.order[0]
	}
	r, ok := m.sources.Get(name)
	if !ok {
		return nil, fmt.Errorf("unknown source %q; configured sources: %s", name, strings.Join(m.order, ", "))
	}
	return r.source, nil
}

// Clusters returns every source's configured endpoints, credentials
// stripped, by source name: Service Center's answer to GET
// /v4/default/admin/clusters lists its registry clusters the same way.
func (m *Manager) Clusters() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, m.sources.Len())
	for name, r := range m.sources.All() {
		out[name] = append([]string(nil), r.endpoints...)
	}
	return out
}

// stripCredentials removes what an endpoint may carry besides where it is:
// user information, query and fragment. An endpoint that does not parse as
// a URL with a host (etcd accepts host:port) loses anything up to its last
// "@".
func stripCredentials(endpoints []string) []string {
	out := make([]string, len(endpoints))
	for i, e := range endpoints {
		if u, err := url.Parse(e); err == nil && u.Host != "" {
			u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
			out[i] = u.String()
			continue
		}
		if j := strings.LastIndexByte(e, '@'); j >= 0 {
			e = e[j+1:]
		}
		if j := strings.IndexAny(e, "?#"); j >= 0 {
			e = e[:j]
		}
		out[i] = e
	}
	return out
}
