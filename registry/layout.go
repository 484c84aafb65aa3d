// Package registry models what the exporter knows of a Service Center
// registry: Service Center's etcd key layout, the decoding of its stored
// values, and exact per-domain counts of projects, services and instances
// that registry sources keep up to date.
package registry

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Kind is what a registry key stores.
type Kind uint8

const (
	// KindOther is any key the exporter does not count (indexes, aliases,
	// tags, schema contents, leases, ...).
	KindOther Kind = iota
	KindDomain
	KindProject
	KindService
	KindInstance
	// KindSchema is a schema summary key, which Service Center's
	// service_center_db_schema_total counts by key alone.
	KindSchema

	// NumKinds is the number of kinds, for arrays indexed by Kind.
	NumKinds = int(KindSchema) + 1
)

// Kinds lists the kinds with a name, for metrics that want every label value.
var Kinds = []Kind{KindDomain, KindProject, KindService, KindInstance, KindSchema, KindOther}

// ListOrder is the order in which a full list reads the counted prefixes.
// Counts do not depend on it (State applies events in any order); services
// first lets an instance find its service's entry already there, and the
// etcd lister learns its split points from the keys before instances.
var ListOrder = []Kind{KindDomain, KindProject, KindService, KindInstance, KindSchema}

func (k Kind) String() string {
	switch k {
	case KindDomain:
		return "domain"
	case KindProject:
		return "project"
	case KindService:
		return "service"
	case KindInstance:
		return "instance"
	case KindSchema:
		return "schema"
	default:
		return "other"
	}
}

// Key is a parsed registry key.
type Key struct {
	Kind       Kind
	Domain     string
	Project    string
	ServiceID  string
	InstanceID string
}

// Layout parses and builds keys under one root prefix.
type Layout struct {
	root      string // prefix + "/"
	domains   string
	projects  string
	services  string
	instances string
	schemas   string
}

// NewLayout returns the layout under prefix, Service Center's root key as
// configured (config.DefaultEtcdPrefix unless changed); "" is the root "/".
func NewLayout(prefix string) Layout {
	root := strings.TrimSuffix(prefix, "/") + "/"
	return Layout{
		root:      root,
		domains:   root + "domains/",
		projects:  root + "projects/",
		services:  root + "ms/files/",
		instances: root + "inst/files/",
		// Service Center's path.GetServiceSchemaSummaryRootKey
		// (datasource/etcd/path/key_generator.go).
		schemas: root + "ms/schema-sum/",
	}
}

// Root is the prefix under which every registry key lives, with a trailing
// slash.
func (l Layout) Root() string { return l.root }

// Prefix returns the key prefix of a kind ("" for KindOther).
func (l Layout) Prefix(k Kind) string {
	switch k {
	case KindDomain:
		return l.domains
	case KindProject:
		return l.projects
	case KindService:
		return l.services
	case KindInstance:
		return l.instances
	case KindSchema:
		return l.schemas
	}
	return ""
}

// ErrBadKey reports a key that is under a counted prefix but does not fit
// the layout.
var ErrBadKey = errors.New("key does not fit the registry layout")

// Parse parses key. Keys outside the counted prefixes parse as KindOther
// without error; a key under a counted prefix with the wrong number of
// segments, an empty segment or invalid UTF-8 is an error that still
// reports the kind, so that it can be counted against it.
func (l Layout) Parse(key []byte) (Key, error) {
	raw, err := l.parseRaw(key)
	return Key{Kind: raw.kind, Domain: string(raw.parts[0]), Project: string(raw.parts[1]),
		ServiceID: string(raw.parts[2]), InstanceID: string(raw.parts[3])}, err
}

// rawKey is a parsed key whose parts alias the key's bytes: parsing
// allocates nothing, which matters when a sync parses a million keys.
type rawKey struct {
	kind  Kind
	parts [4][]byte // domain, project, service id, instance id
	// service is "domain/project/serviceID" of a service or instance key:
	// what ties an instance to its service.
	service []byte
}

func (l Layout) parseRaw(key []byte) (rawKey, error) {
	for _, k := range [...]Kind{KindInstance, KindService, KindSchema, KindProject, KindDomain} {
		prefix := l.Prefix(k)
		if !bytes.HasPrefix(key, []byte(prefix)) {
			continue
		}
		raw := rawKey{kind: k}
		rest := key[len(prefix):]
		if !utf8.Valid(rest) {
			return raw, fmt.Errorf("%w: invalid UTF-8", ErrBadKey)
		}
		n := segments(k)
		for i := 0; i < n; i++ {
			seg := rest
			if j := bytes.IndexByte(rest, '/'); j >= 0 {
				if i == n-1 {
					return rawKey{kind: k}, fmt.Errorf("%w: want %d non-empty segments after %s", ErrBadKey, n, prefix)
				}
				seg, rest = rest[:j], rest[j+1:]
			} else if i < n-1 {
				return rawKey{kind: k}, fmt.Errorf("%w: want %d non-empty segments after %s", ErrBadKey, n, prefix)
			}
			if len(seg) == 0 {
				return rawKey{kind: k}, fmt.Errorf("%w: want %d non-empty segments after %s", ErrBadKey, n, prefix)
			}
			raw.parts[i] = seg
		}
		if k == KindService || k == KindInstance {
			raw.service = key[len(prefix) : len(prefix)+len(raw.parts[0])+len(raw.parts[1])+len(raw.parts[2])+2]
		}
		return raw, nil
	}
	return rawKey{kind: KindOther}, nil
}

func segments(k Kind) int {
	switch k {
	case KindDomain:
		return 1
	case KindProject:
		return 2
	case KindService:
		return 3
	default:
		return 4
	}
}

// Key builders, for the simulator and tests.

// DomainKey is the key of a domain.
func (l Layout) DomainKey(domain string) string { return l.domains + domain }

// ProjectKey is the key of a project.
func (l Layout) ProjectKey(domain, project string) string {
	return l.projects + domain + "/" + project
}

// ServiceKey is the key of a microservice.
func (l Layout) ServiceKey(domain, project, serviceID string) string {
	return l.services + domain + "/" + project + "/" + serviceID
}

// SchemaKey is the key of a schema summary.
func (l Layout) SchemaKey(domain, project, serviceID, schemaID string) string {
	return l.schemas + domain + "/" + project + "/" + serviceID + "/" + schemaID
}

// InstanceKey is the key of an instance.
func (l Layout) InstanceKey(domain, project, serviceID, instanceID string) string {
	return l.instances + domain + "/" + project + "/" + serviceID + "/" + instanceID
}
