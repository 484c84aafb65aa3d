package registry

import "slices"

// ServiceCenterName is the name Service Center registers itself under: it
// is always a global service.
const ServiceCenterName = "SERVICECENTER"

// Rules are Service Center's counting rules, in one place for every source.
// Service Center's gauges (datasource/etcd/metrics.go) walk the services,
// skip the global ones, label each by framework and add the instances of
// each counted service; Apply follows that exactly whatever the order of
// the events.
type Rules struct {
	// ExcludeGlobal leaves global services and their instances out, as
	// Service Center's gauges do.
	ExcludeGlobal bool
	// GlobalServices are the service names that are global besides
	// SERVICECENTER: Service Center's registry.service.globalVisible
	// setting (env CSE_SHARED_SERVICES).
	GlobalServices []string
	// PerService keeps each service's labels for the per-service metrics
	// (registry.per_service.enabled): about 200 bytes a service, which an
	// exporter without those metrics does not hold.
	PerService bool
}

// DefaultRules are Service Center's (global services left out, only
// SERVICECENTER global) and the per-service metrics on.
func DefaultRules() Rules { return Rules{ExcludeGlobal: true, PerService: true} }

// IsGlobal reports whether Service Center treats the service as global: its
// domain and project are default, its appId is default, and its name or
// alias is in the global list (datasource.IsGlobal).
func (r Rules) IsGlobal(domain, project string, svc Service) bool {
	if domain != "default" || project != "default" || svc.AppID != "default" {
		return false
	}
	// Empty names never match, as Service Center skips the empty items of
	// its list.
	return r.isGlobalName(svc.ServiceName) || r.isGlobalName(svc.Alias)
}

// IsServiceCenter reports whether svc is Service Center's own service, the
// one its replicas register as: SERVICECENTER of app default in the default
// domain and project. It is global under any rules.
func IsServiceCenter(domain, project string, svc Service) bool {
	return domain == "default" && project == "default" && svc.AppID == "default" && svc.ServiceName == ServiceCenterName
}

func (r Rules) isGlobalName(name string) bool {
	return name != "" && (name == ServiceCenterName || slices.Contains(r.GlobalServices, name))
}

// FrameworkLabels are Service Center's framework labels of a service
// (discovery.ToFrameworkLabel): both UNKNOWN when the name is empty, even
// if a version is set; the version UNKNOWN when the name is set and the
// version is empty.
func FrameworkLabels(name, version string) (string, string) {
	if name == "" {
		return Unknown, Unknown
	}
	if version == "" {
		return name, Unknown
	}
	return name, version
}
