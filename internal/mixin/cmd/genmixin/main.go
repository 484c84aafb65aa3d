// Command genmixin renders the monitoring mixin (mixin/) into
// rules/servicecomb.rules.yml and dashboards/*.json. Run it from the
// repository root: `make mixin` (which then regenerates the Kubernetes
// manifests from those files).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/servicecomb/servicecomb_exporter/internal/mixin"
)

func main() {
	if err := generate("."); err != nil {
		fmt.Fprintln(os.Stderr, "genmixin:", err)
		os.Exit(1)
	}
}

func generate(root string) error {
	files, err := mixin.Render(filepath.Join(root, "mixin"), "")
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := os.WriteFile(filepath.Join(root, p), files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}
