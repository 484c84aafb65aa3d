package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxValueSize bounds a stored service or instance. Service Center's own
// documents are a few hundred bytes; anything this large is corrupt or
// hostile, and decoding it would only cost memory.
const MaxValueSize = 256 << 10

// Unknown is reported for a missing framework name or version, as Service
// Center does.
const Unknown = "UNKNOWN"

// Instance statuses as Service Center stores them.
var InstanceStatuses = []string{"UP", "DOWN", "STARTING", "TESTING", "OUTOFSERVICE"}

// ErrBadValue reports a stored value that cannot be counted.
var ErrBadValue = errors.New("bad registry value")

// Service is what the exporter needs of a stored microservice.
type Service struct {
	AppID            string
	Framework        string
	FrameworkVersion string
}

type serviceDoc struct {
	AppID     string `json:"appId"`
	Framework *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"framework"`
}

// DecodeService decodes a MicroService document.
func DecodeService(value []byte) (Service, error) {
	if err := checkValue(value); err != nil {
		return Service{}, err
	}
	var doc serviceDoc
	if err := json.Unmarshal(value, &doc); err != nil {
		return Service{}, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	s := Service{AppID: doc.AppID, Framework: Unknown, FrameworkVersion: Unknown}
	if doc.Framework != nil {
		if doc.Framework.Name != "" {
			s.Framework = doc.Framework.Name
		}
		if doc.Framework.Version != "" {
			s.FrameworkVersion = doc.Framework.Version
		}
	}
	return s, nil
}

type instanceDoc struct {
	Status string `json:"status"`
}

// DecodeInstance decodes an Instance document and returns its status, one
// of InstanceStatuses. Another status is an error: counting it would let
// bad data create label values without bound.
func DecodeInstance(value []byte) (string, error) {
	if err := checkValue(value); err != nil {
		return "", err
	}
	var doc instanceDoc
	if err := json.Unmarshal(value, &doc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	// Return the package's own string, so that counts never retain a
	// decoded value (and with it, no per-instance memory).
	for _, s := range InstanceStatuses {
		if s == doc.Status {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: unknown instance status %q", ErrBadValue, truncate(doc.Status, 32))
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
