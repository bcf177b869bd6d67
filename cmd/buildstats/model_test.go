package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
)

// One model of a step: explain, the store (show, compare, slow), the gates
// and the CI annotations all say the same of every step of real logs that
// mix every kind and state: BuildKit internals, a cache import and export,
// a FROM that found its image present, cached, run, failed and cancelled
// steps.
func TestOneModelOfAStep(t *testing.T) {
	logs := []string{"../../fixtures/real/ci-render-11.log", "../../fixtures/real/tty-compose-canceled-17.log",
		"../../fixtures/buildkit-probe/run-fail-plain.log"}
	type step struct{ Name, Kind, Status string }
	type explained struct {
		StepsRun    int    `json:"steps_run"`
		StepsCached int    `json:"steps_cached"`
		Steps       []step `json:"steps"`
	}
	h := newHistory(t)
	for i, log := range logs {
		var e explained
		h.jsonOut(&e, "explain", "--format", "json", log)
		kinds := map[string]bool{}
		for _, s := range e.Steps {
			kinds[s.Kind+"/"+s.Status] = true
		}

		// Stored and shown again: the same kinds and states.
		project := "p" + string(rune('a'+i))
		h.ok("ingest", "--project", project, log)
		var shown explained
		h.jsonOut(&shown, "show", "--project", project, "--format", "json")
		if len(shown.Steps) != len(e.Steps) || shown.StepsRun != e.StepsRun || shown.StepsCached != e.StepsCached {
			t.Fatalf("%s: show says %d steps (%d ran, %d cached), explain %d (%d, %d)", log, len(shown.Steps),
				shown.StepsRun, shown.StepsCached, len(e.Steps), e.StepsRun, e.StepsCached)
		}
		for j := range e.Steps {
			if shown.Steps[j] != e.Steps[j] {
				t.Errorf("%s: step %d is %+v in explain, %+v in show", log, j, e.Steps[j], shown.Steps[j])
			}
		}

		// Slow lists each vertex that ran under explain's kind.
		var slow struct {
			Steps []struct {
				Step string `json:"step"`
				Kind string `json:"kind"`
				Runs int    `json:"runs"`
			} `json:"steps"`
		}
		h.jsonOut(&slow, "slow", "--project", project, "--since", "2000-01-01", "--limit", "0", "--format", "json")
		ran := map[string]int{}
		for _, s := range e.Steps {
			if s.Status == "done" || s.Status == "error" {
				ran[s.Kind]++
			}
		}
		listed := map[string]int{}
		for _, s := range slow.Steps {
			listed[s.Kind] += s.Runs
		}
		for kind, n := range listed {
			if n > ran[kind] {
				t.Errorf("%s: slow counts %d runs of kind %s, explain %d", log, n, kind, ran[kind])
			}
		}
		if kinds["cache/done"] && listed["cache"] == 0 {
			t.Errorf("%s: the cache import explain calls %q is not a cache vertex in slow: %+v", log, "cache", slow.Steps)
		}

		// JUnit: a failing vertex fails, cancelled and unfinished ones are
		// skipped, every other one passes.
		junit := filepath.Join(t.TempDir(), "junit.xml")
		run(t, nil, ciEnv(t), false, "annotate", "--ci", "none", "--junit", junit, log)
		data, err := os.ReadFile(junit)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Suites []struct {
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Failure *struct{} `xml:"failure"`
					Skipped *struct{} `xml:"skipped"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		verdicts := map[string]int{}
		for _, c := range doc.Suites[0].Cases {
			switch {
			case c.Failure != nil:
				verdicts["error"]++
			case c.Skipped != nil:
				verdicts["skipped"]++
			default:
				verdicts["passed"]++
			}
		}
		want := map[string]int{}
		for _, s := range e.Steps {
			switch s.Status {
			case "error":
				want["error"]++
			case "canceled", "incomplete":
				want["skipped"]++
			default:
				want["passed"]++
			}
		}
		for k, n := range want {
			if verdicts[k] != n {
				t.Errorf("%s: JUnit has %d %s steps, explain %d (%v vs %v)", log, verdicts[k], k, n, verdicts, want)
			}
		}
	}
}
