package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// list reads every counted prefix in pages at the revision of the first
// page, into a fresh state. The next page is fetched while the current one
// is decoded, so that a sync costs little more than the read itself.
func (s *Source) list(ctx context.Context, client *clientv3.Client) (*registry.State, int64, origin, error) {
	state := registry.NewState(s.layout, s.opts.Rules, s.decodeError)
	pages, stop := s.fetchPages(ctx, client, s.countedParts(), listWorkers)
	defer stop()
	var rev int64
	var from *origin
	for p := range pages {
		if p.err != nil {
			return nil, 0, origin{}, p.err
		}
		if from == nil {
			o := newOrigin(p.header)
			from = &o
		}
		rev = p.revision
		for _, key := range p.oversized {
			// Domains, projects and schema summaries are counted by their
			// keys alone; a service or instance cannot be counted without
			// its value.
			if k, _ := s.layout.Parse(key); k.Kind == registry.KindDomain || k.Kind == registry.KindProject || k.Kind == registry.KindSchema {
				if _, err := state.Apply(registry.Event{Type: registry.Put, Key: key}); err != nil {
					return nil, 0, origin{}, err
				}
			} else {
				s.decodeError(k.Kind, key, fmt.Errorf("%w: value larger than the %d-byte page limit", registry.ErrBadValue, s.opts.MaxPageBytes))
			}
		}
		for _, kv := range p.kvs {
			if _, err := state.Apply(registry.Event{Type: registry.Put, Key: kv.Key, Value: kv.Value}); err != nil {
				return nil, 0, origin{}, err
			}
		}
	}
	if ctx.Err() != nil {
		return nil, 0, origin{}, ctx.Err()
	}
	if from == nil {
		return nil, 0, origin{}, errors.New("listing: no response from etcd") // every range sends a page
	}
	return state, rev, *from, nil
}

type page struct {
	part      int // index of the listPart the keys are under
	kvs       []*mvccpb.KeyValue
	oversized [][]byte // keys whose value alone exceeds the receive limit
	revision  int64
	header    *etcdserverpb.ResponseHeader
	err       error
}

// listPart is one prefix a lister reads. Its kind decides where the prefix
// is cut and what the lister learns from it (KindOther: neither).
type listPart struct {
	prefix string
	kind   registry.Kind
}

// countedParts are the prefixes a sync reads, in registry.ListOrder.
func (s *Source) countedParts() []listPart {
	parts := make([]listPart, len(registry.ListOrder))
	for i, kind := range registry.ListOrder {
		parts[i] = listPart{prefix: s.layout.Prefix(kind), kind: kind}
	}
	return parts
}

// lister fetches the pages of one list.
//
// etcd counts every key from a page's start to its range end to answer a
// limited range request, so paging through one prefix of a million keys
// costs time quadratic in its size (a minute at a million instances). The
// lister therefore cuts the services and instances prefixes into ranges at
// split points it learns on the way (projects from the project keys, every
// ServicesPerRange-th service from the service keys) and pages through each
// range: every key is still read exactly once, since the ranges are
// contiguous and cover the whole prefix, but each page only counts the keys
// left in its own range.
//
// Every range costs a request, though, and against a separate etcd process
// a request's round trip costs as much as decoding a page: a project's
// instances are therefore cut at its services only when the first page of
// the project's range says it holds more than rangePages pages of keys
// (etcd sends that count with every limited range). For the same reason a
// sync reads up to listWorkers ranges of a prefix at once: the pages come
// in no particular order then, which the counts do not mind.
type lister struct {
	s      *Source
	client *clientv3.Client
	out    chan<- page
	// workers is how many ranges of a part are read at once; 0 or 1:
	// one after the other, in key order.
	workers int
	// rev is the list's revision, from its first page; it is only set
	// while ranges are read one at a time.
	rev int64

	projects []string   // "domain/project/", from the project keys
	mu       sync.Mutex // guards services and serviceCount
	// services holds, per "domain/project/", every ServicesPerRange-th
	// service id: only the split points, not every id, so that what a
	// list holds does not grow with the services.
	services     map[string][]string
	serviceCount map[string]int // "domain/project/" → service keys seen
}

// fetchAll sends the pages of every part, in order. Split points are only
// known for the services and instances prefixes when the projects (and,
// for instances, the services) are read by an earlier part.
func (l *lister) fetchAll(ctx context.Context, parts []listPart) {
	l.services, l.serviceCount = map[string][]string{}, map[string]int{}
	r := l.reader()
	for n, part := range parts {
		var points, finer []string
		if part.kind != registry.KindSchema || r.large(ctx, part.prefix) {
			points, finer = l.splitPoints(part.kind)
		}
		bounds := append(append([]string{part.prefix}, points...), clientv3.GetPrefixRangeEnd(part.prefix))
		i := 0
		// Until a page has fixed the revision, one range at a time.
		for ; i+1 < len(bounds) && (l.rev == 0 || l.workers <= 1 || len(bounds) == 2); i++ {
			if !r.fetchRange(ctx, n, part.kind, bounds[i], bounds[i+1], finer) {
				return
			}
		}
		if i+1 < len(bounds) && !l.fetchConcurrently(ctx, n, part.kind, bounds[i:], finer) {
			return
		}
	}
}

// unsplitPages is how many pages of schema summaries are read without
// cutting their prefix: most registries have few or none, and cutting an
// empty prefix at every project and every ServicesPerRange-th service
// would cost thousands of requests for nothing.
const unsplitPages = 16

// large reports whether prefix holds more than unsplitPages pages of keys
// at the list's revision (one count-only request). On an error it says yes:
// the ranges then read it as any other prefix, and report the error.
func (r *reader) large(ctx context.Context, prefix string) bool {
	resp, err := r.get(ctx, prefix, clientv3.GetPrefixRangeEnd(prefix), 0, clientv3.WithCountOnly())
	return err != nil || resp.Count > int64(unsplitPages*r.s.opts.PageSize)
}

// listWorkers is how many ranges a sync reads at once. Against a separate
// etcd process on two cores, paging four domains at once was the fastest
// raw read (BenchmarkSyncEtcdProcess); each worker holds at most one page.
const listWorkers = 4

// fetchConcurrently sends the pages of the ranges between bounds, l.workers
// at a time; false means stop.
func (l *lister) fetchConcurrently(ctx context.Context, n int, kind registry.Kind, bounds, finer []string) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(l.workers, len(bounds)-1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := l.reader()
			for i := range next {
				// A failed range has sent its error: the others stop.
				if !r.fetchRange(ctx, n, kind, bounds[i], bounds[i+1], finer) {
					failed.Store(true)
					cancel()
				}
			}
		}()
	}
feed:
	for i := 0; i+1 < len(bounds); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return !failed.Load() && ctx.Err() == nil
}

// reader reads ranges for a lister, with a page size of its own.
type reader struct {
	*lister
	limit int // keys per page, halved when a page is too large
}

func (l *lister) reader() *reader { return &reader{lister: l, limit: l.s.opts.PageSize} }

// rangePages is how many pages of keys a range may hold before it is cut
// at its finer split points: paging through it counts at most
// rangePages² pages of keys in all.
const rangePages = 4

// splitPoints returns the sorted keys at which kind's prefix is cut, and
// the sorted finer points at which a range found large is cut further.
func (l *lister) splitPoints(kind registry.Kind) (points, finer []string) {
	switch kind {
	case registry.KindService:
		for _, dp := range l.projects {
			points = append(points, l.s.layout.Prefix(kind)+dp)
		}
	case registry.KindInstance, registry.KindSchema:
		// Schema summary keys are laid out as instance keys are:
		// {domain}/{project}/{serviceId}/{id}.
		for _, dp := range l.projects {
			points = append(points, l.s.layout.Prefix(kind)+dp)
			for _, id := range l.services[dp] {
				finer = append(finer, l.s.layout.Prefix(kind)+dp+id+"/")
			}
		}
	}
	slices.Sort(points)
	slices.Sort(finer)
	return slices.Compact(points), slices.Compact(finer)
}

// fetchRange sends the pages of [start, end) of part n; false means stop.
// When its first page shows more than rangePages pages of keys in the
// range, the rest of it is read in ranges cut at the finer points inside.
//
// A page is at most MaxPageBytes (the client's receive limit): a page that
// would be larger fails without being received, and is asked again with
// half as many keys; the page size doubles back after each page that fits.
// A value that alone exceeds the limit is skipped and reported, by key.
func (l *reader) fetchRange(ctx context.Context, n int, kind registry.Kind, start, end string, finer []string) bool {
	if l.s.opts.hooks.onRange != nil {
		l.s.opts.hooks.onRange(start, end)
	}
	key := start
	first := true
	for key < end {
		resp, err := l.get(ctx, key, end, int64(l.limit))
		if isTooLarge(err) && l.limit > 1 {
			l.limit /= 2
			continue
		}
		if isTooLarge(err) {
			skipped, ok := l.skipOversized(ctx, key, end)
			if !ok {
				return false
			}
			if len(skipped.Kvs) == 0 {
				return true
			}
			next := skipped.Kvs[0].Key
			if !l.send(ctx, page{part: n, oversized: [][]byte{next}, revision: l.rev, header: skipped.Header}) {
				return false
			}
			key = string(next) + "\x00"
			continue
		}
		if err != nil {
			l.send(ctx, page{err: err})
			return false
		}
		l.limit = min(l.limit*2, l.s.opts.PageSize)
		if l.rev == 0 {
			l.rev = resp.Header.Revision
		}
		if l.s.opts.hooks.onPage != nil {
			l.s.opts.hooks.onPage(pageBytes(resp.Kvs))
		}
		l.learn(kind, resp.Kvs)
		// Empty pages are sent too: they carry the revision, which an
		// empty registry must still report so that the watch starts there.
		if !l.send(ctx, page{part: n, kvs: resp.Kvs, revision: l.rev, header: resp.Header}) {
			return false
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return true
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if first && resp.Count > int64(rangePages*l.s.opts.PageSize) {
			if inner := pointsWithin(finer, key, end); len(inner) > 0 {
				bounds := append(append([]string{key}, inner...), end)
				for i := 0; i+1 < len(bounds); i++ {
					if !l.fetchRange(ctx, n, kind, bounds[i], bounds[i+1], nil) {
						return false
					}
				}
				return true
			}
		}
		first = false
	}
	return true
}

// pointsWithin returns the sorted points strictly between start and end.
func pointsWithin(points []string, start, end string) []string {
	i, found := slices.BinarySearch(points, start)
	if found {
		i++
	}
	j, _ := slices.BinarySearch(points, end)
	if i >= j {
		return nil
	}
	return points[i:j]
}

// get reads up to limit keys of [key, end) at the list's revision.
func (l *reader) get(ctx context.Context, key, end string, limit int64, extra ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	opts := append([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(limit)}, extra...)
	if l.rev != 0 {
		opts = append(opts, clientv3.WithRev(l.rev))
	}
	reqCtx, cancel := context.WithTimeout(ctx, time.Duration(l.s.opts.Config.RequestTimeout))
	defer cancel()
	return l.client.Get(reqCtx, key, opts...)
}

// skipOversized reads the first key of [key, end), whose value alone is
// over the receive limit, without its value; false means stop (the error
// has been sent).
func (l *reader) skipOversized(ctx context.Context, key, end string) (*clientv3.GetResponse, bool) {
	resp, err := l.get(ctx, key, end, 1, clientv3.WithKeysOnly())
	if err != nil {
		l.send(ctx, page{err: err})
		return nil, false
	}
	if l.rev == 0 {
		l.rev = resp.Header.Revision
	}
	return resp, true
}

// isTooLarge reports a response refused for exceeding the receive limit.
func isTooLarge(err error) bool {
	return status.Code(err) == codes.ResourceExhausted
}

// learn records the split points that project and service keys give.
func (l *lister) learn(kind registry.Kind, kvs []*mvccpb.KeyValue) {
	if kind != registry.KindProject && kind != registry.KindService {
		return
	}
	prefix := []byte(l.s.layout.Prefix(kind))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, kv := range kvs {
		rest := string(bytes.TrimPrefix(kv.Key, prefix))
		parts := strings.Split(rest, "/")
		switch {
		case kind == registry.KindProject && len(parts) == 2 && parts[0] != "" && parts[1] != "":
			l.projects = append(l.projects, rest+"/")
		case kind == registry.KindService && len(parts) == 3 && parts[2] != "":
			dp := parts[0] + "/" + parts[1] + "/"
			// A project's service keys come in key order, so these
			// are every ServicesPerRange-th id in order; any sorted
			// points would do, the ranges still cover the prefix.
			n := l.serviceCount[dp]
			l.serviceCount[dp] = n + 1
			if n > 0 && n%l.s.opts.ServicesPerRange == 0 {
				l.services[dp] = append(l.services[dp], strings.Clone(parts[2]))
			}
		}
	}
}

func (l *lister) send(ctx context.Context, p page) bool {
	select {
	case l.out <- p:
		return true
	case <-ctx.Done():
		return false
	}
}

func pageBytes(kvs []*mvccpb.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += len(kv.Key) + len(kv.Value)
	}
	return n
}

// fetchPages reads parts on a goroutine of its own (and up to workers
// ranges at once, see lister), a page ahead of the caller, who reads the
// pages until the channel closes. stop ends the fetch early and waits for
// its goroutines; call it before returning.
func (s *Source) fetchPages(ctx context.Context, client *clientv3.Client, parts []listPart, workers int) (pages <-chan page, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan page, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		l := lister{s: s, client: client, out: out, workers: workers}
		l.fetchAll(ctx, parts)
	}()
	return out, func() {
		cancel() // a fetcher blocked on a full channel gives up
		wg.Wait()
	}
}
