package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The JSON shapes Service Center's own client (package client, used by
// scctl) decodes the dump and clusters answers into: pkg/dump.Response,
// pkg/dump.Cache, pkg/dump.KV, pkg/dump.ClustersResponse and go-chassis/cari
// discovery.MicroService and MicroServiceInstance, rewritten here with the
// fields scctl reads.

type scDumpResponse struct {
	Info  json.RawMessage `json:"info,omitempty"`
	Cache *scCache        `json:"cache,omitempty"`
}

type scCache struct {
	Microservices []*scMicroserviceKV `json:"services,omitempty"`
	Indexes       []*scStringKV       `json:"serviceIndexes,omitempty"`
	Aliases       []*scStringKV       `json:"serviceAliases,omitempty"`
	Tags          []json.RawMessage   `json:"serviceTags,omitempty"`
	Rules         []json.RawMessage   `json:"dependencyRules,omitempty"`
	Summaries     []json.RawMessage   `json:"summaries,omitempty"`
	Instances     []*scInstanceKV     `json:"instances,omitempty"`
}

type SCKV struct {
	Key         string `json:"key"`
	Rev         int64  `json:"rev"`
	ClusterName string `json:"cluster"`
}

type scMicroserviceKV struct {
	*SCKV
	Value *scMicroService `json:"value,omitempty"`
}

type scStringKV struct {
	*SCKV
	Value string `json:"value,omitempty"`
}

type scInstanceKV struct {
	*SCKV
	Value *scInstance `json:"value,omitempty"`
}

type scFramework struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

type scMicroService struct {
	ServiceID   string            `json:"serviceId,omitempty"`
	AppID       string            `json:"appId,omitempty"`
	ServiceName string            `json:"serviceName,omitempty"`
	Version     string            `json:"version,omitempty"`
	Level       string            `json:"level,omitempty"`
	Status      string            `json:"status,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Timestamp   string            `json:"timestamp,omitempty"`
	Alias       string            `json:"alias,omitempty"`
	Environment string            `json:"environment,omitempty"`
	Framework   *scFramework      `json:"framework,omitempty"`
}

type scHealthCheck struct {
	Mode     string `json:"mode,omitempty"`
	Interval int32  `json:"interval,omitempty"`
	Times    int32  `json:"times,omitempty"`
}

type scInstance struct {
	InstanceID  string         `json:"instanceId,omitempty"`
	ServiceID   string         `json:"serviceId,omitempty"`
	Endpoints   []string       `json:"endpoints,omitempty"`
	HostName    string         `json:"hostName,omitempty"`
	Status      string         `json:"status,omitempty"`
	HealthCheck *scHealthCheck `json:"healthCheck,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Version     string         `json:"version,omitempty"`
}

type scClustersResponse struct {
	Clusters map[string][]string `json:"clusters,omitempty"`
}

// listedService and listedInstance are the rows of scctl's "get service"
// and "get instance" (scctl/pkg/plugin/get/{service,instance}).
type listedService struct {
	DomainProject, Environment, AppID, ServiceName string
	Versions, Frameworks, Endpoints                []string
}

type listedInstance struct {
	DomainProject, Host, Environment, AppID, ServiceName, Version, Framework string
	Endpoints                                                                []string
	Lease                                                                    int64
}

// domainProject is "domain/project" of a service or instance key, as
// Service Center's path.GetInfoFromSvcKV/GetInfoFromInstKV read it.
func domainProject(key string, trailing int) string {
	parts := strings.Split(key, "/")
	if len(parts) < trailing+2 {
		return ""
	}
	return parts[len(parts)-trailing-2] + "/" + parts[len(parts)-trailing-1]
}

// scctlLists does what scctl does with the cache: services grouped by
// domain/project, environment, app and name; instances of known services.
func scctlLists(c *scCache) (map[string]*listedService, map[string]listedInstance) {
	endpoints := map[string][]string{}
	for _, inst := range c.Instances {
		endpoints[inst.Value.ServiceID] = append(endpoints[inst.Value.ServiceID], inst.Value.Endpoints...)
	}
	services := map[string]*listedService{}
	byID := map[string]*scMicroService{}
	for _, ms := range c.Microservices {
		byID[ms.Value.ServiceID] = ms.Value
		dp := domainProject(ms.Key, 1)
		key := strings.Join([]string{dp, ms.Value.Environment, ms.Value.AppID, ms.Value.ServiceName}, "/")
		s := services[key]
		if s == nil {
			s = &listedService{DomainProject: dp, Environment: ms.Value.Environment, AppID: ms.Value.AppID, ServiceName: ms.Value.ServiceName}
			services[key] = s
		}
		s.Versions = append(s.Versions, ms.Value.Version)
		if fw := ms.Value.Framework; fw != nil && fw.Name != "" && !slices.Contains(s.Frameworks, fw.Name+"/"+fw.Version) {
			s.Frameworks = append(s.Frameworks, fw.Name+"/"+fw.Version)
		}
		s.Endpoints = append(s.Endpoints, endpoints[ms.Value.ServiceID]...)
	}
	for _, s := range services {
		slices.Sort(s.Versions)
		slices.Sort(s.Frameworks)
		slices.Sort(s.Endpoints)
	}
	instances := map[string]listedInstance{}
	for _, inst := range c.Instances {
		svc, ok := byID[inst.Value.ServiceID]
		if !ok {
			continue
		}
		li := listedInstance{DomainProject: domainProject(inst.Key, 2), Host: inst.Value.HostName, Endpoints: inst.Value.Endpoints,
			Environment: svc.Environment, AppID: svc.AppID, ServiceName: svc.ServiceName, Version: svc.Version, Lease: -1}
		if svc.Framework != nil {
			li.Framework = svc.Framework.Name + "/" + svc.Framework.Version
		}
		if hc := inst.Value.HealthCheck; hc != nil {
			li.Lease = int64(hc.Interval * (hc.Times + 1))
			if hc.Mode == "platform" {
				li.Lease = 0
			}
		}
		instances[inst.Value.InstanceID] = li
	}
	return services, instances
}

// recordedEtcd is a real Service Center's etcd content (etcdctl JSON).
func recordedEtcd(t *testing.T) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("../../source/etcd/testdata/01-register/etcd_cse-sr_full.json")
	if err != nil {
		t.Fatal(err)
	}
	var recorded struct {
		KVs []struct{ Key, Value string } `json:"kvs"`
	}
	if err := json.Unmarshal(data, &recorded); err != nil {
		t.Fatal(err)
	}
	kvs := map[string][]byte{}
	for _, kv := range recorded.KVs {
		key, err1 := base64.StdEncoding.DecodeString(kv.Key)
		value, err2 := base64.StdEncoding.DecodeString(kv.Value)
		if err1 != nil || err2 != nil {
			t.Fatalf("recorded key %q: %v %v", kv.Key, err1, err2)
		}
		kvs[string(key)] = value
	}
	return kvs
}

// registryCache builds the cache straight from the stored keys, the way
// Service Center fills its own: the expected answer, independent of the
// exporter.
func registryCache(t *testing.T, kvs map[string][]byte) *scCache {
	t.Helper()
	c := &scCache{}
	for key, value := range kvs {
		kv := &SCKV{Key: key}
		switch {
		case strings.HasPrefix(key, "/cse-sr/ms/files/"):
			var ms scMicroService
			if err := json.Unmarshal(value, &ms); err != nil {
				t.Fatal(err)
			}
			c.Microservices = append(c.Microservices, &scMicroserviceKV{kv, &ms})
		case strings.HasPrefix(key, "/cse-sr/inst/files/"):
			var inst scInstance
			if err := json.Unmarshal(value, &inst); err != nil {
				t.Fatal(err)
			}
			c.Instances = append(c.Instances, &scInstanceKV{kv, &inst})
		}
	}
	return c
}

func decodeSC(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("Service Center's client cannot decode the answer: %v\n%.500s", err, body)
	}
}

// TestServiceCenterClientCompatibility reads the exporter the way Service
// Center's client and scctl do, for the registry recorded from a real
// Service Center written into a real etcd with a plain client, next to a
// REST source replaying that Service Center: scctl's service, instance and
// cluster lists must equal those of the registry and of Service Center.
func TestServiceCenterClientCompatibility(t *testing.T) {
	etcdEndpoint, c := startEtcd(t)
	kvs := recordedEtcd(t)
	for key, value := range kvs {
		if _, err := c.Put(context.Background(), key, string(value)); err != nil {
			t.Fatal(err)
		}
	}

	// The same Service Center answering over REST.
	sc := replayServiceCenter(t)
	scURL, _ := url.Parse(sc.URL)
	scURL.User = url.UserPassword("monitor", "s3cret-in-url")

	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	// Service Center names its etcd cluster "default".
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: default\n    etcd:\n      endpoints: [%s]\n"+
		"  - name: sc\n    servicecenter:\n      endpoints: [%s]\n      poll_interval: 1h\n", etcdEndpoint, scURL))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	admin := http.Header{"X-Domain-Name": {"default"}} // what the client sends

	// GetScCache: GET /v4/default/admin/dump, no options.
	status, body := e.get("/v4/default/admin/dump", admin)
	if status != 200 {
		t.Fatalf("dump: %d %s", status, body)
	}
	var fromExporter scDumpResponse
	decodeSC(t, body, &fromExporter)
	if fromExporter.Cache == nil || len(fromExporter.Cache.Indexes) == 0 || len(fromExporter.Cache.Aliases) == 0 {
		t.Fatalf("dump without the registry's services, indexes or aliases: %.500s", body)
	}
	for _, kv := range fromExporter.Cache.Microservices {
		if kv.ClusterName != "default" || kv.Rev == 0 {
			t.Errorf("service %s: cluster %q rev %d, want the source's name and its revision", kv.Key, kv.ClusterName, kv.Rev)
		}
	}

	data, err := os.ReadFile("../../source/etcd/testdata/01-register/dump_cache.json")
	if err != nil {
		t.Fatal(err)
	}
	var fromServiceCenter scDumpResponse
	decodeSC(t, string(data), &fromServiceCenter)

	gotServices, gotInstances := scctlLists(fromExporter.Cache)
	regServices, regInstances := scctlLists(registryCache(t, kvs))
	scServices, scInstances := scctlLists(fromServiceCenter.Cache)
	if len(regServices) != 8 || len(regInstances) != 13 {
		t.Fatalf("the recorded registry has %d services and %d instances, want 8 and 13", len(regServices), len(regInstances))
	}
	for name, want := range map[string]map[string]*listedService{"the registry": regServices, "Service Center": scServices} {
		if !reflect.DeepEqual(gotServices, want) {
			t.Errorf("scctl get service: the exporter lists\n%v\n%s lists\n%v", derefAll(gotServices), name, derefAll(want))
		}
	}
	for name, want := range map[string]map[string]listedInstance{"the registry": regInstances, "Service Center": scInstances} {
		if !reflect.DeepEqual(gotInstances, want) {
			t.Errorf("scctl get instance: the exporter lists\n%v\n%s lists\n%v", gotInstances, name, want)
		}
	}

	// The REST source's cache is Service Center's own.
	status, body = e.get("/v4/default/admin/dump?options=cache&source=sc", admin)
	var viaREST scDumpResponse
	decodeSC(t, body, &viaREST)
	steady, err := os.ReadFile(steadyDir + "dump_cache.json")
	if err != nil {
		t.Fatal(err)
	}
	var steadyDump scDumpResponse
	decodeSC(t, string(steady), &steadyDump)
	if status != 200 || !reflect.DeepEqual(viaREST, steadyDump) {
		t.Errorf("dump of source sc: %d, differs from Service Center's:\n%.500s", status, body)
	}

	// GetClusters: each source with its endpoints, credentials stripped,
	// in Service Center's shape.
	status, body = e.get("/v4/default/admin/clusters", admin)
	var clusters scClustersResponse
	decodeSC(t, body, &clusters)
	want := map[string][]string{"default": {etcdEndpoint}, "sc": {sc.URL}}
	if status != 200 || !reflect.DeepEqual(clusters.Clusters, want) || strings.Contains(body, "s3cret") {
		t.Errorf("clusters: %d %s, want %v", status, body, want)
	}
	recordedClusters, err := os.ReadFile("testdata/sc_clusters.json")
	if err != nil {
		t.Fatal(err)
	}
	var fromSC scClustersResponse
	decodeSC(t, string(recordedClusters), &fromSC)
	if got, want := clusters.Clusters["default"], fromSC.Clusters["default"]; len(got) != len(want) {
		t.Errorf("cluster default: %v, Service Center lists %v", got, want)
	}
}

func derefAll(m map[string]*listedService) map[string]listedService {
	out := make(map[string]listedService, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}
