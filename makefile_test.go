package servicecombexporter

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestMakeHelpListsEveryTarget: `make help` names every .PHONY target.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	data, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindSubmatch(data)
	if phony == nil {
		t.Fatal("no .PHONY line")
	}
	out, err := exec.Command("make", "-s", "help").Output()
	if err != nil {
		t.Fatalf("make help: %v", err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if fields := strings.Fields(line); len(fields) > 1 {
			listed[fields[0]] = true
		}
	}
	targets := strings.Fields(string(phony[1]))
	if len(targets) < 10 {
		t.Fatalf(".PHONY lists only %v", targets)
	}
	for _, target := range targets {
		if !listed[target] {
			t.Errorf("make help does not list %s:\n%s", target, out)
		}
	}
}
