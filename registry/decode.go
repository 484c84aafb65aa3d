package registry

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxValueSize bounds a stored service or instance. Service Center's own
// documents are a few hundred bytes; anything this large is corrupt or
// hostile, and decoding it would only cost memory.
const MaxValueSize = 256 << 10

// Unknown is reported for a missing framework name or version, as Service
// Center does (see FrameworkLabels).
const Unknown = "UNKNOWN"

// Instance statuses as Service Center stores them.
var InstanceStatuses = []string{"UP", "DOWN", "STARTING", "TESTING", "OUTOFSERVICE"}

// ErrBadValue reports a stored value that cannot be counted.
var ErrBadValue = errors.New("bad registry value")

// Service is what the exporter needs of a stored microservice.
type Service struct {
	AppID       string
	ServiceName string
	Alias       string
	// Version, Environment and Level are the document's version,
	// environment and level fields, for the per-service metrics.
	Version     string
	Environment string
	Level       string
	// Framework and FrameworkVersion are the labels Service Center gives
	// (FrameworkLabels), not the raw fields.
	Framework        string
	FrameworkVersion string
}

// DecodeService decodes a MicroService document: a JSON object whose
// appId, serviceName, alias and framework (an object with name and
// version) are read.
func DecodeService(value []byte) (Service, error) {
	if err := checkValue(value); err != nil {
		return Service{}, err
	}
	var appID, serviceName, alias, name, version, svcVersion, env, level []byte
	err := eachFieldChecked(value, func(key, raw []byte) error {
		var err error
		switch {
		case keyIs(key, "appId"):
			appID, err = stringValue(raw)
		case keyIs(key, "serviceName"):
			serviceName, err = stringValue(raw)
		case keyIs(key, "alias"):
			alias, err = stringValue(raw)
		case keyIs(key, "version"):
			svcVersion, err = stringValue(raw)
		case keyIs(key, "environment"):
			env, err = stringValue(raw)
		case keyIs(key, "level"):
			level, err = stringValue(raw)
		case keyIs(key, "framework"):
			name, version = nil, nil // a later duplicate replaces an earlier one
			if raw[0] == 'n' {
				return nil
			}
			if raw[0] != '{' {
				return fmt.Errorf("framework: %w", errWrongType)
			}
			err = eachField(raw, func(key, raw []byte) error {
				var err error
				switch {
				case keyIs(key, "name"):
					name, err = stringValue(raw)
				case keyIs(key, "version"):
					version, err = stringValue(raw)
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return Service{}, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	s := Service{AppID: string(appID), ServiceName: string(serviceName), Alias: string(alias),
		Version: string(svcVersion), Environment: string(env), Level: string(level)}
	s.Framework, s.FrameworkVersion = FrameworkLabels(string(name), string(version))
	return s, nil
}

// DecodeInstance decodes an Instance document and returns its status, one
// of InstanceStatuses. Another status is an error: counting it would let
// bad data create label values without bound.
func DecodeInstance(value []byte) (string, error) {
	if err := checkValue(value); err != nil {
		return "", err
	}
	var status []byte
	err := eachFieldChecked(value, func(key, raw []byte) error {
		if !keyIs(key, "status") {
			return nil
		}
		var err error
		status, err = stringValue(raw)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	// Return the package's own string, so that counts never retain a
	// decoded value (and with it, no per-instance memory).
	for _, s := range InstanceStatuses {
		if s == string(status) {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: unknown instance status %q", ErrBadValue, truncate(string(status), 32))
}

func checkValue(value []byte) error {
	switch {
	case len(value) == 0:
		return fmt.Errorf("%w: empty value", ErrBadValue)
	case len(value) > MaxValueSize:
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadValue, len(value), MaxValueSize)
	case !utf8.Valid(value):
		return fmt.Errorf("%w: invalid UTF-8", ErrBadValue)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
