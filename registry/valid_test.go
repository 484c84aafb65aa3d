package registry

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// validCases are values on each side of JSON's grammar; validJSON must
// agree with json.Valid on every one.
var validCases = []string{
	`{}`, ` { } `, `[]`, `[1,2]`, `"x"`, `0`, `-0`, `1.5e+3`, `1E9`, `true`, `false`, `null`,
	`{"a":{"b":[true,false,null,"s",-1.0e-2]}}`, "{\"a\"\t:\r\n1}", `"\u00e9\n\"\\\/\b\f\r\t"`, `"é"`,
	// invalid
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1}}`,
	`{} {}`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `tru`, `truex`, `nul`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12g4"`, "\"a\x01\"", "\"a\x1f\"", `'a'`, `[1 2]`, `{"a":1 "b":2}`, "\x00", `{"a":1}x`,
}

func TestValidJSON(t *testing.T) {
	cases := validCases
	// encoding/json's nesting limit: 10,000 levels are valid, one more is not.
	for _, depth := range []int{10000, 10001} {
		cases = append(cases, strings.Repeat("[", depth)+strings.Repeat("]", depth),
			strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth))
	}
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%s) = %v, json.Valid says %v", show([]byte(c)), got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%s) = %v, json.Valid says %v", show(data), got, want)
		}
	})
}

// BenchmarkValidJSON checks a Service Center shaped instance document
// with validJSON against json.Valid, alternated in the same run:
// go test -run '^$' -bench ValidJSON -count 3 ./registry
func BenchmarkValidJSON(b *testing.B) {
	doc := []byte(`{"instanceId":"0000000000000000000000000000002a","serviceId":"000000000000000000000000000000000000002a","endpoints":["rest://10.42.0.42:8080"],"hostName":"host-0","status":"UP","healthCheck":{"mode":"push","interval":30,"times":3},"timestamp":"1795533708","modTimestamp":"1795533708","version":"1.0.0"}`)
	var own, std time.Duration
	for range b.N {
		t0 := time.Now()
		for range 100 {
			if !validJSON(doc) {
				b.Fatal("invalid")
			}
		}
		t1 := time.Now()
		for range 100 {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
		own, std = own+t1.Sub(t0), std+time.Since(t1)
	}
	b.ReportMetric(float64(own.Nanoseconds())/float64(b.N*100), "validJSON-ns/doc")
	b.ReportMetric(float64(std.Nanoseconds())/float64(b.N*100), "json.Valid-ns/doc")
	b.ReportMetric(own.Seconds()/std.Seconds(), "validJSON/json.Valid")
}
