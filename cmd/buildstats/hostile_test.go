package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/report/safe/safetest"
)

// Every hostile log of fixtures/hostile through every command and output
// format that can reach a terminal, a CI log or a published file: nothing
// it prints may run a CI command, move the terminal or show a secret.
func TestHostileLogsThroughEveryCommand(t *testing.T) {
	corpus := safetest.LoadCorpus(t, "../../fixtures/hostile")
	if len(corpus.Logs) == 0 || len(corpus.Secrets) == 0 {
		t.Fatal("no hostile corpus")
	}
	opts := safetest.Options{Secrets: corpus.Secrets}
	h := newHistory(t)
	dir := t.TempDir()
	for i, log := range corpus.Logs {
		name := filepath.Base(log)
		check := func(what string, r result) {
			t.Helper()
			safetest.Check(t, name+": "+what+" stdout", []byte(r.out), opts)
			safetest.Check(t, name+": "+what+" stderr", []byte(r.err), opts)
		}
		for _, format := range []string{"table", "json", "markdown"} {
			check("explain --format "+format, h.run("explain", "--all", "--wide", "--format", format, log))
		}
		check("check", h.run("check", "--max-duration", "1s", log))
		check("check --format json", h.run("check", "--format", "json", "--max-duration", "1s", log))
		summary, junit, cq := filepath.Join(dir, "summary.md"), filepath.Join(dir, "junit.xml"), filepath.Join(dir, "cq.json")
		for _, ci := range []string{"github", "gitlab", "buildkite", "none"} {
			env := ciEnv(t)
			r := run(t, nil, env, false, "annotate", "--ci", ci, "--summary", summary, "--junit", junit, "--codequality", cq, log)
			ghOpts := opts
			if ci == "github" {
				ghOpts.GitHubCommands = []string{"error", "warning", "notice"}
			}
			safetest.Check(t, name+": annotate --ci "+ci, []byte(r.out), ghOpts)
			safetest.Check(t, name+": annotate --ci "+ci+" stderr", []byte(r.err), opts)
			for _, f := range []string{summary, junit, cq} {
				if data, err := os.ReadFile(f); err == nil {
					safetest.Check(t, name+": annotate --ci "+ci+" "+filepath.Base(f), data, opts)
				}
			}
		}
		page := filepath.Join(dir, "report.html")
		check("report", h.run("report", "-o", page, log))
		if data, err := os.ReadFile(page); err == nil {
			safetest.Check(t, name+": report page", data, opts)
		}
		// Stored (masked), then every history command.
		project := "hostile" + string(rune('a'+i))
		check("ingest", h.run("ingest", "--project", project, "--keep-logs", log))
		for _, args := range [][]string{
			{"history"}, {"history", "--format", "json"}, {"history", "--format", "markdown"},
			{"show", "--project", project, "--all", "--wide"}, {"show", "--project", project, "--format", "json"},
			{"show", "--project", project, "--format", "markdown"},
			{"slow", "--project", project, "--since", "2000-01-01"}, {"misses", "--project", project, "--since", "2000-01-01", "--format", "json"},
			{"trends", "--project", project}, {"trends", "--project", project, "--format", "markdown"},
		} {
			check(strings.Join(args, " "), h.run(args...))
		}
	}
	// The secrets are there to be masked: --no-mask shows them, so the
	// test above is not passing for want of secrets in the output.
	shown := false
	for _, log := range corpus.Logs {
		r := h.run("--no-mask", "explain", "--all", "--wide", "--format", "json", log)
		for _, s := range corpus.Secrets {
			if strings.Contains(r.out, s) {
				shown = true
			}
		}
	}
	if !shown {
		t.Error("no secret of the corpus reaches explain even with --no-mask: the masking test tests nothing")
	}
}
