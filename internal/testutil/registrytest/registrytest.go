// Package registrytest has test helpers shared by the registry sources'
// tests and benchmarks: a registry changed at random in a real etcd, and an
// independent count of what etcd holds.
package registrytest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/registry"
)

// Prefix is the root prefix the helpers write under.
const Prefix = "/cse-sr"

// CountFromEtcd counts the registry straight from etcd, independently of
// the registry package, the way an operator would with etcdctl.
func CountFromEtcd(t testing.TB, c *clientv3.Client) (counts registry.Counts, revision int64) {
	t.Helper()
	resp, err := c.Get(context.Background(), Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	// Service Center's gauges, written out independently of
	// registry.State: services that exist and are not global (default
	// rules: only SERVICECENTER is global), and the instances of those;
	// instances of no service at all are orphans; schema summaries count
	// by key; SERVICECENTER's instances count apart.
	counts = registry.NewCounts()
	counted := map[string]registry.ServiceGroup{} // domain/project/service id
	stored := map[string]bool{}                   // every service key
	serviceCenter := map[string]bool{}            // SERVICECENTER's ids
	type inst struct{ service, status string }
	var instances []inst
	for _, kv := range resp.Kvs {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), Prefix+"/"), "/")
		switch {
		case parts[0] == "domains" && len(parts) == 2:
			counts.Domains[parts[1]] = struct{}{}
		case parts[0] == "projects" && len(parts) == 3:
			counts.Projects[registry.DomainProject{Domain: parts[1], Project: parts[2]}] = struct{}{}
		case parts[0] == "ms" && parts[1] == "schema-sum" && len(parts) == 6:
			counts.Schemas[registry.DomainProject{Domain: parts[2], Project: parts[3]}]++
		case parts[0] == "ms" && parts[1] == "files" && len(parts) == 5:
			stored[strings.Join(parts[2:5], "/")] = true
			var doc struct {
				AppID       string `json:"appId"`
				ServiceName string `json:"serviceName"`
				Alias       string `json:"alias"`
				Framework   struct{ Name, Version string }
			}
			if json.Unmarshal(kv.Value, &doc) != nil {
				continue
			}
			if parts[2] == "default" && parts[3] == "default" && doc.AppID == "default" && doc.ServiceName == "SERVICECENTER" {
				counts.ServiceCenter.Services++
				serviceCenter[strings.Join(parts[2:5], "/")] = true
			}
			if parts[2] == "default" && parts[3] == "default" && doc.AppID == "default" &&
				(doc.ServiceName == "SERVICECENTER" || doc.Alias == "SERVICECENTER") {
				continue
			}
			name, version := doc.Framework.Name, doc.Framework.Version
			if name == "" {
				name, version = "UNKNOWN", "UNKNOWN"
			} else if version == "" {
				version = "UNKNOWN"
			}
			g := registry.ServiceGroup{Domain: parts[2], Project: parts[3], Framework: name, FrameworkVersion: version}
			counts.Services[g]++
			counted[strings.Join(parts[2:5], "/")] = g
		case parts[0] == "inst" && parts[1] == "files" && len(parts) == 6:
			var doc struct{ Status string }
			if json.Unmarshal(kv.Value, &doc) != nil || !validStatus(doc.Status) {
				continue
			}
			instances = append(instances, inst{strings.Join(parts[2:5], "/"), doc.Status})
		}
	}
	for _, i := range instances {
		if g, ok := counted[i.service]; ok {
			counts.Instances[registry.InstanceGroup{Domain: g.Domain, Project: g.Project, Status: i.status}]++
		}
		if serviceCenter[i.service] {
			counts.ServiceCenter.Instances[slices.Index(registry.InstanceStatuses, i.status)]++
		}
		if !stored[i.service] {
			parts := strings.Split(i.service, "/")
			counts.Orphans[registry.DomainProject{Domain: parts[0], Project: parts[1]}]++
		}
	}
	return counts, resp.Header.Revision
}

func validStatus(s string) bool {
	for _, v := range registry.InstanceStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// World is a registry the test changes at random, remembering what it made
// so that every operation is valid.
type World struct {
	t        testing.TB
	c        *clientv3.Client
	rnd      *rand.Rand
	Services []Service
	next     int
	// Churn is what the world did to instances since ResetChurn:
	// instance keys it created and deleted (or expired), per domain and
	// project.
	Churn registry.Churn
}

// ResetChurn sets the world's churn to 0: call it where a source's counters
// start (before its first list).
func (w *World) ResetChurn() {
	w.Churn = registry.Churn{Registrations: map[registry.DomainProject]uint64{}, Deregistrations: map[registry.DomainProject]uint64{}}
}

func (w *World) churned(s Service, registered bool) {
	if w.Churn.Registrations == nil {
		w.ResetChurn()
	}
	dp := registry.DomainProject{Domain: s.Domain, Project: s.Project}
	if registered {
		w.Churn.Registrations[dp]++
	} else {
		w.Churn.Deregistrations[dp]++
	}
}

// UseClient points the world at a new client of the same registry (etcd
// restarted with its data): it keeps what it made, so that new services do
// not reuse, and overwrite, the keys of old ones.
func (w *World) UseClient(c *clientv3.Client) { w.c = c }

// Service is a service the world created.
type Service struct {
	Domain, Project, ID string
	Instances           map[string]clientv3.LeaseID
	Schemas             map[string]bool
	// Orphaned: its document was deleted and its instances left behind.
	Orphaned bool
}

var (
	domains    = []string{"default", "tenant-a", "tenant-b"}
	projects   = []string{"default", "proj-x"}
	frameworks = []string{`{"name":"servicecomb-java-chassis","version":"2.8.0"}`, `{"name":"go-chassis","version":"2.7.0"}`, `{"name":"x"}`, ``}
	statuses   = registry.InstanceStatuses
)

func (w *World) Put(key, value string, opts ...clientv3.OpOption) {
	if _, err := w.c.Put(context.Background(), key, value, opts...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *World) Del(key string) {
	if _, err := w.c.Delete(context.Background(), key); err != nil {
		w.t.Fatal(err)
	}
}

func (w *World) AddService() {
	w.next++
	s := Service{Domain: domains[w.rnd.IntN(len(domains))], Project: projects[w.rnd.IntN(len(projects))],
		ID: fmt.Sprintf("svc%04d", w.next), Instances: map[string]clientv3.LeaseID{}, Schemas: map[string]bool{}}
	app, name := "app", fmt.Sprintf("s%d", w.next)
	if w.next%3 == 0 { // not from rnd, so that seeds keep their worlds
		app = "default" // counted: most SDKs register under app default
	}
	if s.Domain == "default" && s.Project == "default" && w.rnd.IntN(4) == 0 {
		app, name = "default", "SERVICECENTER" // global: left out, with its instances
	}
	doc := fmt.Sprintf(`{"serviceId":%q,"appId":%q,"serviceName":%q`, s.ID, app, name)
	if fw := frameworks[w.rnd.IntN(len(frameworks))]; fw != "" {
		doc += `,"framework":` + fw
	}
	w.Put(Prefix+"/domains/"+s.Domain, "")
	w.Put(Prefix+"/projects/"+s.Domain+"/"+s.Project, "")
	w.Put(Prefix+"/ms/files/"+s.Domain+"/"+s.Project+"/"+s.ID, doc+"}")
	w.Services = append(w.Services, s)
}

// AddServiceCenter registers Service Center's own service, SERVICECENTER
// of app default in default/default, with an UP and a DOWN instance; the
// random operations then treat it as any other.
func (w *World) AddServiceCenter() {
	w.next++
	s := Service{Domain: "default", Project: "default", ID: fmt.Sprintf("sc%04d", w.next),
		Instances: map[string]clientv3.LeaseID{}, Schemas: map[string]bool{}}
	w.Put(Prefix+"/domains/default", "")
	w.Put(Prefix+"/projects/default/default", "")
	w.Put(Prefix+"/ms/files/default/default/"+s.ID,
		fmt.Sprintf(`{"serviceId":%q,"appId":"default","serviceName":"SERVICECENTER","alias":"SERVICECENTER","version":"2.2.0"}`, s.ID))
	w.Services = append(w.Services, s)
	for _, status := range []string{"UP", "DOWN"} {
		w.addInstanceTo(s, status)
	}
}

func (w *World) InstanceKey(s Service, id string) string {
	return Prefix + "/inst/files/" + s.Domain + "/" + s.Project + "/" + s.ID + "/" + id
}

func (w *World) AddInstance() {
	if len(w.Services) == 0 {
		w.AddService()
	}
	w.addInstanceTo(w.Services[w.rnd.IntN(len(w.Services))], statuses[w.rnd.IntN(len(statuses))])
}

func (w *World) addInstanceTo(s Service, status string) {
	w.next++
	id := fmt.Sprintf("inst%05d", w.next)
	lease, err := w.c.Grant(context.Background(), 300)
	if err != nil {
		w.t.Fatal(err)
	}
	value := fmt.Sprintf(`{"instanceId":%q,"serviceId":%q,"status":%q}`, id, s.ID, status)
	if w.rnd.IntN(15) == 0 {
		value = `{"instanceId":"broken",` // malformed: counted as a decode error only
	}
	w.Put(w.InstanceKey(s, id), value, clientv3.WithLease(lease.ID))
	w.Put(Prefix+"/inst/leases/"+s.Domain+"/"+s.Project+"/"+s.ID+"/"+id, fmt.Sprint(int64(lease.ID)), clientv3.WithLease(lease.ID))
	s.Instances[id] = lease.ID
	w.churned(s, true)
}

func (w *World) PickInstance() (Service, string, clientv3.LeaseID, bool) {
	for _, i := range w.rnd.Perm(len(w.Services)) {
		s := w.Services[i]
		for id, lease := range s.Instances {
			return s, id, lease, true
		}
	}
	return Service{}, "", 0, false
}

func (w *World) ChangeStatus() {
	if s, id, _, ok := w.PickInstance(); ok {
		value := fmt.Sprintf(`{"instanceId":%q,"serviceId":%q,"status":%q}`, id, s.ID, statuses[w.rnd.IntN(len(statuses))])
		w.Put(w.InstanceKey(s, id), value, clientv3.WithIgnoreLease())
	}
}

func (w *World) DeleteInstance() {
	if s, id, _, ok := w.PickInstance(); ok {
		w.Del(w.InstanceKey(s, id))
		delete(s.Instances, id)
		w.churned(s, false)
	}
}

// expireInstance revokes the instance's lease: the same DELETE events as an
// expiry, without waiting for the TTL.
func (w *World) ExpireInstance() {
	if s, id, lease, ok := w.PickInstance(); ok {
		if _, err := w.c.Revoke(context.Background(), lease); err != nil {
			w.t.Fatal(err)
		}
		delete(s.Instances, id)
		w.churned(s, false)
	}
}

func (w *World) DeleteService() {
	if len(w.Services) == 0 {
		return
	}
	i := w.rnd.IntN(len(w.Services))
	s := w.Services[i]
	for id := range s.Instances {
		w.Del(w.InstanceKey(s, id))
		w.churned(s, false)
	}
	for id := range s.Schemas {
		w.Del(w.SchemaKey(s, id))
	}
	w.Del(Prefix + "/ms/files/" + s.Domain + "/" + s.Project + "/" + s.ID)
	w.Services = append(w.Services[:i], w.Services[i+1:]...)
}

// OrphanService deletes a service's document and leaves its instances
// (and schemas) behind, as a failed unregistration can: its instances
// become orphans, counted by no instance gauge.
func (w *World) OrphanService() {
	if len(w.Services) == 0 {
		return
	}
	i := w.rnd.IntN(len(w.Services))
	s := w.Services[i]
	w.Del(Prefix + "/ms/files/" + s.Domain + "/" + s.Project + "/" + s.ID)
	w.Services[i].Orphaned = true
}

// SchemaKey is the key of a schema summary of s.
func (w *World) SchemaKey(s Service, id string) string {
	return Prefix + "/ms/schema-sum/" + s.Domain + "/" + s.Project + "/" + s.ID + "/" + id
}

// PutSchema writes a schema summary of a service: a new one, or now and
// then an existing one again (an update, which counts nothing new).
func (w *World) PutSchema() {
	if len(w.Services) == 0 {
		return
	}
	s := w.Services[w.rnd.IntN(len(w.Services))]
	id := fmt.Sprintf("schema%d", w.rnd.IntN(3))
	w.Put(w.SchemaKey(s, id), fmt.Sprintf("%016x", w.rnd.Uint64()))
	s.Schemas[id] = true
}

// DeleteSchema deletes a schema summary.
func (w *World) DeleteSchema() {
	for _, i := range w.rnd.Perm(len(w.Services)) {
		s := w.Services[i]
		for id := range s.Schemas {
			w.Del(w.SchemaKey(s, id))
			delete(s.Schemas, id)
			return
		}
	}
}

func (w *World) BadKey() {
	w.Put(Prefix+"/inst/files/default/default/only-three-segments", `{"status":"UP"}`)
	w.Del(Prefix + "/inst/files/default/default/only-three-segments")
}

func (w *World) RandomOp() {
	ops := []func(){w.AddService, w.AddInstance, w.AddInstance, w.AddInstance, w.ChangeStatus, w.ChangeStatus,
		w.DeleteInstance, w.ExpireInstance, w.DeleteService, w.BadKey, w.OrphanService, w.PutSchema, w.PutSchema, w.DeleteSchema}
	ops[w.rnd.IntN(len(ops))]()
}

// NewWorld returns an empty world writing through c, with its random
// choices fixed by seed.
func NewWorld(t testing.TB, c *clientv3.Client, seed uint64) *World {
	return &World{t: t, c: c, rnd: rand.New(rand.NewPCG(seed, seed+1))}
}

// StartEtcd starts an embedded etcd (quiet, no fsync, random loopback port
// unless o says otherwise) that stops when the test ends.
func StartEtcd(t testing.TB, o embedetcd.Options) *embedetcd.Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Quiet, o.NoFsync = true, true
	s, err := embedetcd.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Client returns an etcd client closed when the test ends.
func Client(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
