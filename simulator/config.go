package simulator

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/servicecomb/servicecomb_exporter/config"
)

// Defaults of Config, as returned by DefaultConfig.
const (
	DefaultPrefix              = config.DefaultEtcdPrefix // the exporter's default, so that both meet
	DefaultDomains             = 3
	DefaultProjectsPerDomain   = 2
	DefaultServicesPerProject  = 5
	DefaultInstancesPerService = 3
	DefaultChurnRate           = 5
	DefaultLeaseTTL            = 30 * time.Second
	DefaultInstancesPerLease   = 1
	// DefaultBatchSize is etcd's default --max-txn-ops: the largest
	// transaction a stock etcd accepts.
	DefaultBatchSize = 128
	// DefaultWriters bounds the transactions (and lease grants) Load keeps
	// in flight: enough to hide the round trip, few enough not to swamp a
	// small etcd.
	DefaultWriters = 8
)

// Limits that keep every loop of Load bounded and every value valid for etcd.
const (
	// MaxInstances bounds the initial registry (instances, all projects).
	MaxInstances = 50_000_000
	// MaxWriters bounds Config.Writers.
	MaxWriters = 256
	// maxLeaseTTL is etcd's largest lease TTL (9e9 s).
	maxLeaseTTL = 9_000_000_000 * time.Second
)

// Config describes the simulated registry and its churn. Start from
// DefaultConfig: a zero Config is not valid (it has no domain), and ChurnRate
// 0 means "no churn", not "default".
type Config struct {
	// Prefix is Service Center's root key (default /cse-sr).
	Prefix string
	// Domains is the number of domains: "default", "tenant-1", "tenant-2"...
	// The first hosts Service Center's own service.
	Domains int
	// ProjectsPerDomain: "default", "proj-1", "proj-2"... in each domain.
	ProjectsPerDomain int
	// ServicesPerProject is the number of microservices per project at
	// load, not counting Service Center's own.
	ServicesPerProject int
	// InstancesPerService is the number of instances per service at load.
	InstancesPerService int
	// Seed makes ids, names, statuses and the sequence of churn events
	// reproducible.
	Seed int64
	// ChurnRate is the number of churn events per second once loaded; 0
	// turns churn off (leases are still kept alive).
	ChurnRate float64
	// LeaseTTL is the TTL of instance leases, rounded up to whole seconds;
	// etcd may raise very short TTLs to its minimum (about 2 s).
	LeaseTTL time.Duration
	// InstancesPerLease is how many instances share one lease. 1 is Service
	// Center's behaviour (one lease per instance); larger values make very
	// large registries cheap to grant and keep alive.
	InstancesPerLease int
	// Frameworks is the mix of service frameworks; nil means
	// DefaultFrameworks. A share with an empty Name registers services
	// without a framework (legacy SDKs).
	Frameworks []FrameworkShare
	// Reset deletes everything under Prefix before loading.
	Reset bool
	// BatchSize is the number of operations per transaction when loading
	// (0: DefaultBatchSize); it must not exceed the server's --max-txn-ops.
	BatchSize int
	// Writers is the number of concurrent transactions when loading
	// (0: DefaultWriters).
	Writers int
	// ServiceOutage scripts outages of one service under Run (zero: none).
	ServiceOutage ServiceOutage
}

// FrameworkShare is one framework of the mix and its relative weight.
type FrameworkShare struct {
	Name, Version string
	Weight        int
}

// DefaultFrameworks is the default mix: mostly Java chassis, some Go chassis
// and Spring Cloud, and about 10% of services without a framework.
func DefaultFrameworks() []FrameworkShare {
	return []FrameworkShare{
		{Name: "servicecomb-java-chassis", Version: "2.8.0", Weight: 35},
		{Name: "servicecomb-java-chassis", Version: "2.7.5", Weight: 20},
		{Name: "go-chassis", Version: "2.7.0", Weight: 20},
		{Name: "spring-cloud-huawei", Version: "1.11.0", Weight: 15},
		{Weight: 10},
	}
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		Prefix:              DefaultPrefix,
		Domains:             DefaultDomains,
		ProjectsPerDomain:   DefaultProjectsPerDomain,
		ServicesPerProject:  DefaultServicesPerProject,
		InstancesPerService: DefaultInstancesPerService,
		Seed:                1,
		ChurnRate:           DefaultChurnRate,
		LeaseTTL:            DefaultLeaseTTL,
		InstancesPerLease:   DefaultInstancesPerLease,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if !strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") || len(c.Prefix) < 2 {
		return fmt.Errorf("prefix %q: must start with / and not end with /", c.Prefix)
	}
	if c.Domains < 1 {
		return fmt.Errorf("domains %d: must be at least 1", c.Domains)
	}
	if c.ProjectsPerDomain < 1 {
		return fmt.Errorf("projects per domain %d: must be at least 1", c.ProjectsPerDomain)
	}
	if c.ServicesPerProject < 0 {
		return fmt.Errorf("services per project %d: must not be negative", c.ServicesPerProject)
	}
	if c.InstancesPerService < 0 {
		return fmt.Errorf("instances per service %d: must not be negative", c.InstancesPerService)
	}
	if n, ok := c.totalInstances(); !ok || n > MaxInstances {
		return fmt.Errorf("%d domains × %d projects × %d services × %d instances: more than %d instances",
			c.Domains, c.ProjectsPerDomain, c.ServicesPerProject, c.InstancesPerService, MaxInstances)
	}
	if c.ChurnRate < 0 || math.IsNaN(c.ChurnRate) || math.IsInf(c.ChurnRate, 0) {
		return fmt.Errorf("churn rate %v: must be a finite number ≥ 0", c.ChurnRate)
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > maxLeaseTTL {
		return fmt.Errorf("lease TTL %v: must be between 1s and %v", c.LeaseTTL, maxLeaseTTL)
	}
	if c.InstancesPerLease < 1 {
		return fmt.Errorf("instances per lease %d: must be at least 1", c.InstancesPerLease)
	}
	if err := validateFrameworks(c.Frameworks); err != nil {
		return err
	}
	// An instance takes two puts that must share a transaction.
	if c.BatchSize != 0 && c.BatchSize < 2 {
		return fmt.Errorf("batch size %d: must be at least 2", c.BatchSize)
	}
	if c.Writers < 0 || c.Writers > MaxWriters {
		return fmt.Errorf("writers %d: must be between 1 and %d (0: default)", c.Writers, MaxWriters)
	}
	return c.ServiceOutage.validate(c)
}

func validateFrameworks(shares []FrameworkShare) error {
	if shares == nil {
		return nil
	}
	total := 0
	for i, s := range shares {
		if s.Weight < 0 {
			return fmt.Errorf("frameworks[%d]: negative weight %d", i, s.Weight)
		}
		if s.Name == "" && s.Version != "" {
			return fmt.Errorf("frameworks[%d]: version %q without a name", i, s.Version)
		}
		if total > math.MaxInt32-s.Weight {
			return fmt.Errorf("frameworks: weights too large")
		}
		total += s.Weight
	}
	if total == 0 {
		return errors.New("frameworks: weights must not all be 0")
	}
	return nil
}

// totalInstances is the number of instances at load, false on overflow.
func (c Config) totalInstances() (int64, bool) {
	n := int64(1)
	for _, f := range []int{c.Domains, c.ProjectsPerDomain, c.ServicesPerProject, c.InstancesPerService} {
		if f < 0 {
			return 0, false
		}
		if f != 0 && n > math.MaxInt64/int64(f) {
			return 0, false
		}
		n *= int64(f)
	}
	return n, true
}

// leaseSeconds is the TTL granted to leases.
func (c Config) leaseSeconds() int64 {
	return int64((c.LeaseTTL + time.Second - 1) / time.Second)
}

func (c Config) batchSize() int {
	if c.BatchSize == 0 {
		return DefaultBatchSize
	}
	return c.BatchSize
}

func (c Config) writers() int {
	if c.Writers == 0 {
		return DefaultWriters
	}
	return c.Writers
}

func (c Config) frameworks() []FrameworkShare {
	if c.Frameworks == nil {
		return DefaultFrameworks()
	}
	return c.Frameworks
}
