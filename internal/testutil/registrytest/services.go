package registrytest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ServiceTruth is one service as a plain read of etcd shows it: the labels
// of its per-service series and its instances by status.
type ServiceTruth struct {
	Domain, Project, ID                string
	Environment, App, Name, Version    string
	Level, Framework, FrameworkVersion string
	Instances                          map[string]int64 // by status; only statuses with instances
}

// ServicesFromEtcd lists, straight from etcd and independently of the
// registry package, the services whose per-service series the exporter
// must expose with the default rules: every service document that decodes
// and is not global (in domain and project default, appId default and
// serviceName or alias SERVICECENTER), with the instances stored under it
// whose document decodes to a known status. Instances whose service
// document is missing (orphans) belong to no service. The per-(domain,
// project) counts of CountFromEtcd follow the same rules.
func ServicesFromEtcd(t testing.TB, c *clientv3.Client) []ServiceTruth {
	t.Helper()
	return ServicesUnder(t, c, Prefix)
}

// ServicesUnder is ServicesFromEtcd for a registry stored under prefix.
func ServicesUnder(t testing.TB, c *clientv3.Client, prefix string) []ServiceTruth {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*ServiceTruth{} // domain/project/id
	type inst struct{ service, status string }
	var instances []inst
	for _, kv := range resp.Kvs {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), prefix+"/"), "/")
		switch {
		case len(parts) == 5 && parts[0] == "ms" && parts[1] == "files":
			var doc struct {
				AppID       string `json:"appId"`
				ServiceName string `json:"serviceName"`
				Alias       string `json:"alias"`
				Version     string `json:"version"`
				Environment string `json:"environment"`
				Level       string `json:"level"`
				Framework   *struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"framework"`
			}
			if json.Unmarshal(kv.Value, &doc) != nil {
				continue
			}
			if parts[2] == "default" && parts[3] == "default" && doc.AppID == "default" &&
				(doc.ServiceName == "SERVICECENTER" || doc.Alias == "SERVICECENTER") {
				continue // global
			}
			s := &ServiceTruth{Domain: parts[2], Project: parts[3], ID: parts[4], Environment: doc.Environment,
				App: doc.AppID, Name: doc.ServiceName, Version: doc.Version, Level: doc.Level,
				Framework: "UNKNOWN", FrameworkVersion: "UNKNOWN", Instances: map[string]int64{}}
			if doc.Framework != nil && doc.Framework.Name != "" {
				s.Framework = doc.Framework.Name
				if doc.Framework.Version != "" {
					s.FrameworkVersion = doc.Framework.Version
				}
			}
			byKey[strings.Join(parts[2:5], "/")] = s
		case len(parts) == 6 && parts[0] == "inst" && parts[1] == "files":
			var doc struct{ Status string }
			if json.Unmarshal(kv.Value, &doc) != nil || !validStatus(doc.Status) {
				continue
			}
			instances = append(instances, inst{strings.Join(parts[2:5], "/"), doc.Status})
		}
	}
	for _, i := range instances {
		if s, ok := byKey[i.service]; ok {
			s.Instances[i.status]++
		}
	}
	out := make([]ServiceTruth, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	return out
}
