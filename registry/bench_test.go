package registry

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkApplyList applies the keys of a full list (1,000 services with
// 100 instances each, documents shaped like Service Center's) to a fresh
// State, against a baseline in the same run that only decodes the same
// values: the ratio is what counting adds to decoding (the per-service
// entries of the counting rules included), and against the same State
// with the per-service counts off (state/per-service-off: what
// registry.per_service costs a sync, beside etcd's reads).
func BenchmarkApplyList(b *testing.B) {
	l := NewLayout(testPrefix)
	var services, instances []Event
	for s := range 1000 {
		id := fmt.Sprintf("%040x", s)
		d := fmt.Sprintf("domain-%03d", s%100)
		services = append(services, put(l.ServiceKey(d, "default", id),
			fmt.Sprintf(`{"serviceId":%q,"appId":"default","serviceName":"svc-%d","version":"1.0.0","level":"FRONT","status":"UP","framework":{"name":"servicecomb-java-chassis","version":"2.8.0"}}`, id, s)))
		for i := range 100 {
			iid := fmt.Sprintf("%032x", s*100+i)
			instances = append(instances, put(l.InstanceKey(d, "default", id, iid),
				fmt.Sprintf(`{"instanceId":%q,"serviceId":%q,"endpoints":["rest://10.0.0.1:8080"],"hostName":"h","status":"UP","healthCheck":{"mode":"push","interval":30,"times":3},"timestamp":"1700000000","version":"1.0.0"}`, iid, id)))
		}
	}
	var decodeOnly, state time.Duration
	b.Run("decode-only", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			for _, e := range services {
				if _, err := l.Parse(e.Key); err != nil {
					b.Fatal(err)
				}
				if _, err := DecodeService(e.Value); err != nil {
					b.Fatal(err)
				}
			}
			for _, e := range instances {
				if _, err := l.Parse(e.Key); err != nil {
					b.Fatal(err)
				}
				if _, err := DecodeInstance(e.Value); err != nil {
					b.Fatal(err)
				}
			}
		}
		decodeOnly = time.Since(start) / time.Duration(b.N)
	})
	var off time.Duration
	b.Run("state-per-service-off", func(b *testing.B) {
		b.ReportAllocs()
		rules := DefaultRules()
		rules.PerService = false
		start := time.Now()
		for range b.N {
			s := NewState(l, rules, nil)
			for _, list := range [][]Event{services, instances} {
				for _, e := range list {
					if _, err := s.Apply(e); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		off = time.Since(start) / time.Duration(b.N)
	})
	b.Run("state", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for range b.N {
			s := NewState(l, DefaultRules(), nil)
			for _, list := range [][]Event{services, instances} {
				for _, e := range list {
					if _, err := s.Apply(e); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		state = time.Since(start) / time.Duration(b.N)
		if decodeOnly > 0 {
			b.ReportMetric(float64(state)/float64(decodeOnly), "state/decode-only")
		}
		if off > 0 {
			b.ReportMetric(float64(state)/float64(off), "state/per-service-off")
		}
	})
}

// BenchmarkStateMemory measures the live heap of a State holding 100,000
// services (no instances: instances add no per-service memory) with the
// per-service counts on and off, in the same run: per-service-B/service is
// what registry.per_service costs.
//
//	go test -run '^$' -bench StateMemory -benchtime 1x ./registry
func BenchmarkStateMemory(b *testing.B) {
	const n = 100000
	l := NewLayout(testPrefix)
	services := make([]Event, n)
	for s := range n {
		id := fmt.Sprintf("%032x", s)
		services[s] = put(l.ServiceKey(fmt.Sprintf("domain-%04d", s%1000), "default", id),
			fmt.Sprintf(`{"serviceId":%q,"appId":"app-%d","serviceName":"svc-%06d","version":"1.0.%d","level":"BACK","status":"UP","environment":"production","framework":{"name":"servicecomb-java-chassis","version":"2.8.0"}}`, id, s%37, s, s%3))
	}
	heap := func(perService bool) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rules := DefaultRules()
		rules.PerService = perService
		s := NewState(l, rules, nil)
		for _, e := range services {
			if _, err := s.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		return after.HeapAlloc - before.HeapAlloc
	}
	var on, off uint64
	for b.Loop() {
		on, off = heap(true), heap(false)
	}
	b.ReportMetric(float64(on)/n, "B/service")
	b.ReportMetric(float64(off)/n, "off-B/service")
	b.ReportMetric((float64(on)-float64(off))/n, "per-service-B/service")
}
