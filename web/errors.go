package web

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Service Center's error codes; the HTTP status is the code divided by 1000.
const (
	codeInvalidParams    = "400001"
	codeUnhealthy        = "400002"
	codeForbidden        = "403001"
	codeNotFound         = "404001"
	codeMethodNotAllowed = "405001"
	codeInternal         = "500003"
)

// apiError is Service Center's error body.
type apiError struct {
	Code    string `json:"errorCode"`
	Message string `json:"errorMessage"`
	Detail  string `json:"detail,omitempty"`
}

func (e apiError) status() int {
	n, err := strconv.Atoi(e.Code)
	if err != nil || n < 100000 {
		return http.StatusInternalServerError
	}
	return n / 1000
}

func writeError(w http.ResponseWriter, code, message, detail string) {
	e := apiError{Code: code, Message: message, Detail: detail}
	writeJSON(w, e.status(), e)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only our own types are written here; failing to marshal one is a
		// bug, reported as one (and raising InternalError on the way out).
		data, _ = json.Marshal(apiError{Code: codeInternal, Message: "Internal server error", Detail: "encoding response: " + err.Error()})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
