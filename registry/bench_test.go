package registry

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApplyList applies the keys of a full list (1,000 services with
// 100 instances each, documents shaped like Service Center's) to a fresh
// State, against a baseline in the same run that only decodes the same
// values: the ratio is what counting adds to decoding (the per-service
// entries of the counting rules included).
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
	})
}
