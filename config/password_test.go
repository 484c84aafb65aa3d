package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestPasswordFileReadOncePerLoad: validation reads password_file once and
// every ReadPassword of that load returns those bytes, even if the file
// changes meanwhile; the next load reads it again, and the two loads compare
// unequal, so that the source is rebuilt with the rotated password.
func TestPasswordFileReadOncePerLoad(t *testing.T) {
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", "first\n")
	cfgPath := writeFile(t, dir, "exporter.yml", string(doc(
		"sources:",
		"  - name: e",
		"    etcd: {endpoints: [http://127.0.0.1:2379], password_file: pw}",
		"  - name: s",
		"    servicecenter: {endpoints: [http://127.0.0.1:30100], username: u, password_file: pw}",
	)))
	first, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for kind, read := range map[string]func() (string, error){
		"etcd": first.Sources[0].Etcd.ReadPassword, "servicecenter": first.Sources[1].ServiceCenter.ReadPassword,
	} {
		if got, err := read(); err != nil || got != "first" {
			t.Errorf("%s ReadPassword() after the file changed = %q, %v; want what the load read", kind, got, err)
		}
	}
	// Gone after the load: still the loaded value, no read.
	if err := os.Remove(pwFile); err != nil {
		t.Fatal(err)
	}
	if got, err := first.Sources[0].Etcd.ReadPassword(); err != nil || got != "first" {
		t.Errorf("ReadPassword() with the file removed = %q, %v", got, err)
	}
	writeFile(t, dir, "pw", "second\n")
	second, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := second.Sources[1].ServiceCenter.ReadPassword(); got != "second" {
		t.Errorf("reload ReadPassword() = %q, want the rotated password", got)
	}
	if reflect.DeepEqual(first.Sources[0].Etcd, second.Sources[0].Etcd) {
		t.Error("sections loaded with different password files compare equal")
	}
	// Nothing of the content reaches the printed configuration.
	if s := second.String(); strings.Contains(s, "first") || strings.Contains(s, "second") {
		t.Errorf("redacted config shows a password:\n%s", s)
	}
}
