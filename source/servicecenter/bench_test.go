package servicecenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// genDump returns a dump of the recorded shape with services×perService
// instances spread over a few domains and projects, plus Service Center's
// own service.
func genDump(services, perService int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"cache":{"services":[`)
	b.WriteString(`{"key":"/cse-sr/ms/files/default/default/7062417bf9ebd4c646bb23059003cea42180894a","rev":5,"cluster":"default","value":{"serviceId":"7062417bf9ebd4c646bb23059003cea42180894a","appId":"default","serviceName":"SERVICECENTER","version":"0.0.1","level":"BACK","status":"UP","properties":{"allowCrossApp":"true"},"timestamp":"1795533667","alias":"SERVICECENTER","modTimestamp":"1795533667","environment":"development"}}`)
	where := func(i int) (string, string) {
		return fmt.Sprintf("tenant-%d", i%10), fmt.Sprintf("proj-%d", i%3)
	}
	for i := range services {
		d, p := where(i)
		fmt.Fprintf(&b, `,{"key":"/cse-sr/ms/files/%s/%s/svc%038d","rev":%d,"cluster":"default","value":{"serviceId":"svc%038d","appId":"app-%d","serviceName":"svc-%d","version":"1.0.%d","level":"BACK","status":"UP","timestamp":"1795533707","modTimestamp":"1795533707","framework":{"name":"servicecomb-java-chassis","version":"2.8.%d"}}}`,
			d, p, i, i+6, i, i%50, i, i%7, i%4)
	}
	b.WriteString(`],"serviceIndexes":[`)
	for i := range services {
		d, p := where(i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"/cse-sr/ms/indexes/%s/%s//app-%d/svc-%d/1.0.%d","rev":%d,"cluster":"default","value":"svc%038d"}`, d, p, i%50, i, i%7, i+6, i)
	}
	b.WriteString(`],"instances":[`)
	statuses := []string{"UP", "UP", "UP", "DOWN", "STARTING"}
	n := 0
	for i := range services {
		d, p := where(i)
		for j := range perService {
			if n > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":"/cse-sr/inst/files/%s/%s/svc%038d/inst%028d","rev":%d,"cluster":"default","value":{"instanceId":"inst%028d","serviceId":"svc%038d","endpoints":["rest://10.0.%d.%d:8080"],"hostName":"host-%d","status":"%s","healthCheck":{"mode":"push","interval":30,"times":3},"timestamp":"1795533708","modTimestamp":"1795533708","version":"1.0.0"}}`,
				d, p, i, n, n+services+6, n, i, i%256, j%256, n, statuses[n%len(statuses)])
			n++
		}
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// minimal structs for the json.Unmarshal baseline: only what is counted.
type plainDump struct {
	Cache struct {
		Services []struct {
			Key   string `json:"key"`
			Value struct {
				AppID     string `json:"appId"`
				Framework *struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"framework"`
			} `json:"value"`
		} `json:"services"`
		Instances []struct {
			Key   string `json:"key"`
			Value struct {
				Status string `json:"status"`
			} `json:"value"`
		} `json:"instances"`
	} `json:"cache"`
}

// peakHeap runs f once and returns the largest HeapInuse seen above the
// level before it, sampled every 200µs.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkParseDump compares the streaming parse-and-count of a 100,000
// instance dump with json.Unmarshal of the same body into minimal structs
// (which does not even count). The body is in memory for both; peak-heap-MB
// is the heap in use above that, sampled during one extra run.
func BenchmarkParseDump(b *testing.B) {
	body := genDump(1000, 100)
	layout := registry.NewLayout(config.DefaultEtcdPrefix)
	b.Logf("dump: %d bytes, 100000 instances", len(body))

	b.Run("stream", func(b *testing.B) {
		var err error
		run := func() {
			var st *registry.State
			st, err = parseDump(bytes.NewReader(body), layout, registry.DefaultRules(), nil)
			if err == nil {
				var total int64
				for _, n := range st.Counts().Instances {
					total += n
				}
				if total != 100000 {
					err = fmt.Errorf("counted %d instances", total)
				}
			}
		}
		peak := peakHeap(run)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			run()
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	})

	b.Run("unmarshal", func(b *testing.B) {
		var err error
		run := func() {
			var d plainDump
			err = json.Unmarshal(body, &d)
			if err == nil && len(d.Cache.Instances) != 100000 {
				err = fmt.Errorf("decoded %d instances", len(d.Cache.Instances))
			}
		}
		peak := peakHeap(run)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			run()
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	})
}
