package simulator

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLoad100k loads 1,000 domains × 1 project × 10 services × 10
// instances (100,000 instances, 110,000 services and instances) into an
// embedded etcd without fsync.
func BenchmarkLoad100k(b *testing.B) {
	for _, ipl := range []int{1, 100} {
		b.Run(fmt.Sprintf("instances-per-lease=%d", ipl), func(b *testing.B) {
			c := startEtcd(b)
			for i := 0; b.Loop(); i++ {
				cfg := DefaultConfig()
				cfg.Prefix = fmt.Sprintf("/bench%d", i)
				cfg.Domains, cfg.ProjectsPerDomain, cfg.ServicesPerProject, cfg.InstancesPerService = 1000, 1, 10, 10
				cfg.InstancesPerLease = ipl
				cfg.LeaseTTL = time.Hour
				st, err := Load(testContext(b, 10*time.Minute), c, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(st.Keys), "keys/op")
			}
		})
	}
}
