package registry

// EndpointStatus is what a source knows of one configured endpoint of its
// cluster, from probing it (the Service Center source probes each one).
type EndpointStatus struct {
	// Endpoint is the configured URL, any password in it redacted.
	Endpoint string
	// Healthy: the last health probe answered 200.
	Healthy bool
	// Version and APIVersion are from the last version probe that
	// succeeded ("" until one does).
	Version, APIVersion string
	// Reachable: the last health probe got an HTTP response.
	Reachable bool
	// Errors counts failed requests to this endpoint: transport errors,
	// timeouts, unexpected statuses (5xx among them) and malformed bodies.
	Errors uint64
}
