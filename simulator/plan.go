package simulator

import (
	"math/rand/v2"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Streams of the seeded generator: loading and churn draw from separate
// streams so that changing one does not change the other.
const (
	streamLoad  = 1
	streamChurn = 2
)

// healthCheckTimes is the number of missed heartbeats Service Center
// tolerates; with the interval it gives the lease TTL.
const healthCheckTimes = 3

// newRand returns the seeded generator of a stream.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// newView returns an empty view for cfg.
func newView(cfg Config) *view {
	interval := max(1, cfg.leaseSeconds()/(healthCheckTimes+1))
	return &view{
		layout:      Layout{Prefix: cfg.Prefix},
		seed:        cfg.Seed,
		healthCheck: HealthCheck{Mode: "push", Interval: interval, Times: healthCheckTimes},
		frameworks:  cfg.frameworks(),
		leases:      map[clientv3.LeaseID]*lease{},
	}
}

// planView returns the initial registry of cfg, created at now (Unix
// seconds), with leases not yet granted. It depends only on cfg and now.
func planView(cfg Config, now int64) *view {
	v := newView(cfg)
	rng := newRand(cfg.Seed, streamLoad)
	for d := 0; d < cfg.Domains; d++ {
		v.domains = append(v.domains, domainName(d))
		for p := 0; p < cfg.ProjectsPerDomain; p++ {
			v.projects = append(v.projects, &project{domain: domainName(d), name: projectName(p)})
		}
	}
	v.addGlobal(now)

	var group *lease
	grouped := 0
	for _, p := range v.projects {
		for range cfg.ServicesPerProject {
			s := v.newService(rng, p, now)
			v.addService(s)
			for range cfg.InstancesPerService {
				if grouped%cfg.InstancesPerLease == 0 {
					group = &lease{}
				}
				grouped++
				v.addInstance(v.newInstance(s, group, loadStatus(rng), now))
			}
		}
	}
	if group != nil && cfg.InstancesPerLease > 1 && len(group.members) < cfg.InstancesPerLease {
		v.open = group
	}
	return v
}

// addGlobal adds Service Center's own service and instance to domain
// default, project default (the first project).
func (v *view) addGlobal(now int64) {
	g := &service{
		id:      serviceID(v.seed, idGlobal, 0),
		project: v.projects[0],
		appID:   GlobalAppID,
		name:    GlobalServiceName,
		version: globalVersion,
		env:     GlobalEnvironment,
		level:   "BACK",
		created: now,
		global:  true,
		pos:     -1,
	}
	v.addService(g)
	v.addInstance(v.newInstance(g, &lease{}, StatusUp, now))
}
