package simulator

import "strings"

// Instance statuses of Service Center.
const (
	StatusUp           = "UP"
	StatusDown         = "DOWN"
	StatusStarting     = "STARTING"
	StatusTesting      = "TESTING"
	StatusOutOfService = "OUTOFSERVICE"
)

// InstanceStatuses lists every instance status.
func InstanceStatuses() []string {
	return []string{StatusUp, StatusDown, StatusStarting, StatusTesting, StatusOutOfService}
}

// Service Center's own service, which it registers in domain default,
// project default. The exporter leaves it out by default.
const (
	GlobalAppID       = "default"
	GlobalServiceName = "SERVICECENTER"
	GlobalEnvironment = "development"
	globalVersion     = "2.2.0"
	globalPort        = 30100
)

// MicroService is the JSON Service Center stores under ms/files.
type MicroService struct {
	ServiceID    string            `json:"serviceId"`
	AppID        string            `json:"appId"`
	ServiceName  string            `json:"serviceName"`
	Version      string            `json:"version"`
	Level        string            `json:"level,omitempty"`
	Status       string            `json:"status,omitempty"`
	Environment  string            `json:"environment,omitempty"`
	Schemas      []string          `json:"schemas,omitempty"`
	Properties   map[string]string `json:"properties,omitempty"`
	Timestamp    string            `json:"timestamp"`
	ModTimestamp string            `json:"modTimestamp"`
	Framework    *Framework        `json:"framework,omitempty"`
}

// Framework is the SDK a service registered with.
type Framework struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Instance is the JSON Service Center stores under inst/files.
type Instance struct {
	InstanceID   string       `json:"instanceId"`
	ServiceID    string       `json:"serviceId"`
	Endpoints    []string     `json:"endpoints"`
	HostName     string       `json:"hostName"`
	Status       string       `json:"status"`
	HealthCheck  *HealthCheck `json:"healthCheck,omitempty"`
	Timestamp    string       `json:"timestamp"`
	ModTimestamp string       `json:"modTimestamp"`
	Version      string       `json:"version,omitempty"`
}

// HealthCheck is an instance's heartbeat contract: Service Center expires
// an instance after Interval × (Times + 1) seconds without a heartbeat.
type HealthCheck struct {
	Mode     string `json:"mode"`
	Interval int64  `json:"interval"`
	Times    int64  `json:"times"`
}

// Layout builds Service Center's etcd keys under one root prefix.
type Layout struct {
	// Prefix is the root, without a trailing slash (e.g. /cse-sr).
	Prefix string
}

// Root is the prefix of every registry key, with a trailing slash.
func (l Layout) Root() string { return l.Prefix + "/" }

// DomainKey is the key of a domain; its value is empty.
func (l Layout) DomainKey(domain string) string { return l.Prefix + "/domains/" + domain }

// ProjectKey is the key of a project; its value is empty.
func (l Layout) ProjectKey(domain, project string) string {
	return join(l.Prefix+"/projects", domain, project)
}

// ServiceKey is the key of a MicroService JSON.
func (l Layout) ServiceKey(domain, project, serviceID string) string {
	return join(l.Prefix+"/ms/files", domain, project, serviceID)
}

// ServiceIndexKey is the key whose value is the id of the service with this
// environment, application, name and version. An empty environment leaves an
// empty segment, as in Service Center.
func (l Layout) ServiceIndexKey(domain, project, env, appID, name, version string) string {
	return join(l.Prefix+"/ms/indexes", domain, project, env, appID, name, version)
}

// InstanceKey is the key of an Instance JSON, attached to the instance's
// lease.
func (l Layout) InstanceKey(domain, project, serviceID, instanceID string) string {
	return join(l.Prefix+"/inst/files", domain, project, serviceID, instanceID)
}

// InstanceLeaseKey is the key whose value is the decimal id of the
// instance's lease, attached to that lease.
func (l Layout) InstanceLeaseKey(domain, project, serviceID, instanceID string) string {
	return join(l.Prefix+"/inst/leases", domain, project, serviceID, instanceID)
}

// Prefixes of each kind of key, with a trailing slash, for range reads.

// DomainsPrefix is the prefix of domain keys.
func (l Layout) DomainsPrefix() string { return l.Prefix + "/domains/" }

// ProjectsPrefix is the prefix of project keys.
func (l Layout) ProjectsPrefix() string { return l.Prefix + "/projects/" }

// ServicesPrefix is the prefix of MicroService keys.
func (l Layout) ServicesPrefix() string { return l.Prefix + "/ms/files/" }

// ServiceIndexesPrefix is the prefix of service index keys.
func (l Layout) ServiceIndexesPrefix() string { return l.Prefix + "/ms/indexes/" }

// InstancesPrefix is the prefix of Instance keys.
func (l Layout) InstancesPrefix() string { return l.Prefix + "/inst/files/" }

// InstanceLeasesPrefix is the prefix of instance lease keys.
func (l Layout) InstanceLeasesPrefix() string { return l.Prefix + "/inst/leases/" }

func join(parts ...string) string { return strings.Join(parts, "/") }
