package registrytest

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// Shape is the size of a generated registry: Domains domains of one
// project each, Services services spread evenly over them and Instances
// instances spread evenly over the services.
type Shape struct {
	Prefix    string // "" means Prefix, Service Center's default
	Domains   int
	Services  int
	Instances int
}

// Populate writes a registry of the given shape with documents shaped like
// the ones recorded from a real Service Center (about 330 bytes an
// instance), in transactions of 128 puts on a few connections. It is for
// benchmarks; instances carry no lease.
func Populate(ctx context.Context, c *clientv3.Client, s Shape) error {
	prefix := s.Prefix
	if prefix == "" {
		prefix = Prefix
	}
	layout := registry.NewLayout(prefix)
	const batch, writers = 128, 4
	ops := make(chan clientv3.Op, batch*writers)
	g, ctx := errgroup.WithContext(ctx)
	for i := 0; i < writers; i++ {
		g.Go(func() error {
			var pending []clientv3.Op
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				_, err := c.Txn(ctx).Then(pending...).Commit()
				pending = pending[:0]
				return err
			}
			for op := range ops {
				if pending = append(pending, op); len(pending) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		})
	}
	g.Go(func() error {
		defer close(ops)
		send := func(key, value string) error {
			select {
			case ops <- clientv3.OpPut(key, value):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		statuses := registry.InstanceStatuses
		for d := 0; d < s.Domains; d++ {
			domain := fmt.Sprintf("tenant-%04d", d)
			if err := send(layout.DomainKey(domain), ""); err != nil {
				return err
			}
			if err := send(layout.ProjectKey(domain, "default"), ""); err != nil {
				return err
			}
		}
		perService := s.Instances / max(s.Services, 1)
		for sv := 0; sv < s.Services; sv++ {
			domain := fmt.Sprintf("tenant-%04d", sv%max(s.Domains, 1))
			id := fmt.Sprintf("%040x", sv)
			doc := fmt.Sprintf(`{"serviceId":%q,"appId":"app-%d","serviceName":"svc-%d","version":"1.0.0","level":"BACK","status":"UP","timestamp":"1795533707","modTimestamp":"1795533707","framework":{"name":"servicecomb-java-chassis","version":"2.8.%d"}}`,
				id, sv%50, sv, sv%3)
			if err := send(layout.ServiceKey(domain, "default", id), doc); err != nil {
				return err
			}
			for i := 0; i < perService; i++ {
				iid := fmt.Sprintf("%032x", sv*perService+i)
				inst := fmt.Sprintf(`{"instanceId":%q,"serviceId":%q,"endpoints":["rest://10.%d.%d.%d:8080"],"hostName":"host-%d","status":%q,"healthCheck":{"mode":"push","interval":30,"times":3},"timestamp":"1795533708","modTimestamp":"1795533708","version":"1.0.0"}`,
					iid, id, sv%250, i%250, sv%200, i, statuses[(sv+i)%len(statuses)])
				if err := send(layout.InstanceKey(domain, "default", id, iid), inst); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return g.Wait()
}
