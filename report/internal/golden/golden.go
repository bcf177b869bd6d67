// Package golden compares test output with reviewed files under testdata/
// and rewrites them when the test binary runs with -update. It is shared by
// the report packages' tests so that each golden check behaves the same.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag: rewrite the golden files instead of
// comparing with them. Review the diff before committing.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got with the file at path, or writes it there with
// -update. pkg names the package in the hint, e.g. "./report/html".
func Check(t testing.TB, pkg, path, got string) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test %s -update creates it)", err, pkg)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test %s -update rewrites it); got:\n%s", path, pkg, got)
	}
}
