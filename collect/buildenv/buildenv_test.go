package buildenv

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeEnv is a getenv over the given key, value pairs.
func fakeEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		env  func(string) string
		want string
	}{
		{fakeEnv("BUILDSTATS_DB", "/x/h.db", "XDG_DATA_HOME", "/d", "HOME", "/home/u"), "/x/h.db"},
		{fakeEnv("XDG_DATA_HOME", "/d", "HOME", "/home/u"), "/d/buildstats/history.db"},
		{fakeEnv("XDG_DATA_HOME", "relative", "HOME", "/home/u"), "/home/u/.local/share/buildstats/history.db"},
		{fakeEnv("HOME", "/home/u"), "/home/u/.local/share/buildstats/history.db"},
	}
	for _, tc := range tests {
		if got, err := DefaultPath(tc.env); err != nil || got != tc.want {
			t.Errorf("DefaultPath = %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestDetectCI(t *testing.T) {
	tests := []struct {
		name string
		env  func(string) string
		want Info
	}{
		{"github pull request", fakeEnv("GITHUB_ACTIONS", "true", "GITHUB_SERVER_URL", "https://github.com", "GITHUB_REPOSITORY", "acme/shop",
			"GITHUB_RUN_ID", "42", "GITHUB_RUN_ATTEMPT", "2", "GITHUB_SHA", "abc", "GITHUB_HEAD_REF", "feature", "GITHUB_REF_NAME", "7/merge", "RUNNER_NAME", "gh-1"),
			Info{Project: "shop", Branch: "feature", Commit: "abc", CIProvider: "github-actions", RunURL: "https://github.com/acme/shop/actions/runs/42/attempts/2", Runner: "gh-1"}},
		{"github push", fakeEnv("GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "acme/shop", "GITHUB_REF_NAME", "main", "RUNNER_OS", "Linux", "RUNNER_ARCH", "X64"),
			Info{Project: "shop", Branch: "main", CIProvider: "github-actions", Runner: "Linux/X64"}},
		{"gitlab", fakeEnv("GITLAB_CI", "true", "CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/9", "CI_COMMIT_REF_NAME", "main", "CI_COMMIT_SHA", "def",
			"CI_RUNNER_DESCRIPTION", "shared-1", "CI_PROJECT_NAME", "shop"),
			Info{Project: "shop", Branch: "main", Commit: "def", CIProvider: "gitlab-ci", RunURL: "https://gitlab.com/acme/shop/-/jobs/9", Runner: "shared-1"}},
		{"buildkite", fakeEnv("BUILDKITE", "true", "BUILDKITE_BUILD_URL", "https://buildkite.com/acme/shop/builds/3", "BUILDKITE_JOB_ID", "j1", "BUILDKITE_BRANCH", "dev",
			"BUILDKITE_COMMIT", "HEAD", "BUILDKITE_AGENT_NAME", "agent-2", "BUILDKITE_REPO", "git@github.com:acme/shop.git"),
			Info{Project: "shop", Branch: "dev", CIProvider: "buildkite", RunURL: "https://buildkite.com/acme/shop/builds/3#j1", Runner: "agent-2"}},
		{"circleci", fakeEnv("CIRCLECI", "true", "CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/5", "CIRCLE_BRANCH", "main", "CIRCLE_SHA1", "123",
			"CIRCLE_JOB", "build", "CIRCLE_PROJECT_REPONAME", "shop"),
			Info{Project: "shop", Branch: "main", Commit: "123", CIProvider: "circleci", RunURL: "https://circleci.com/gh/acme/shop/5", Runner: "build"}},
		{"jenkins", fakeEnv("JENKINS_URL", "https://ci/", "BUILD_URL", "https://ci/job/shop/8/", "GIT_BRANCH", "origin/main", "GIT_COMMIT", "456",
			"NODE_NAME", "built-in", "GIT_URL", "https://github.com/acme/shop.git"),
			Info{Project: "shop", Branch: "main", Commit: "456", CIProvider: "jenkins", RunURL: "https://ci/job/shop/8/", Runner: "built-in"}},
		{"jenkins multibranch", fakeEnv("JENKINS_HOME", "/var/jenkins", "JOB_NAME", "acme/shop/feature-x", "BRANCH_NAME", "feature-x"),
			Info{Project: "shop", Branch: "feature-x", CIProvider: "jenkins"}},
		{"none", fakeEnv("HOME", "/root"), Info{}},
	}
	for _, tc := range tests {
		if got := DetectCI(tc.env); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: DetectCI = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	flags := Info{Branch: "override"}
	merged := flags.Merge(tests[0].want).Merge(Info{Project: "local", Runner: "box"})
	if merged.Branch != "override" || merged.Project != "shop" || merged.Runner != tests[0].want.Runner {
		t.Errorf("Merge = %+v", merged)
	}
}

func TestDetectGit(t *testing.T) {
	root := filepath.Join(t.TempDir(), "checkout-dir")
	git := filepath.Join(root, ".git")
	sha := strings.Repeat("ab", 20)
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(git, "HEAD"), "ref: refs/heads/feature/x\n")
	write(filepath.Join(git, "config"), "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/up/other.git\n[remote \"origin\"]\n\turl = git@github.com:acme/shop.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n")
	write(filepath.Join(git, "packed-refs"), "# pack-refs with: peeled\n"+sha+" refs/heads/feature/x\n")
	sub := filepath.Join(root, "services", "api")
	os.MkdirAll(sub, 0o755)
	if got := DetectGit(sub); got.Project != "shop" || got.Branch != "feature/x" || got.Commit != sha {
		t.Errorf("DetectGit = %+v", got)
	}
	// A loose ref wins over packed-refs; a detached HEAD is a commit.
	loose := strings.Repeat("cd", 20)
	write(filepath.Join(git, "refs", "heads", "feature", "x"), loose+"\n")
	if got := DetectGit(root); got.Commit != loose {
		t.Errorf("loose ref: %+v", got)
	}
	write(filepath.Join(git, "HEAD"), loose+"\n")
	if got := DetectGit(root); got.Branch != "" || got.Commit != loose {
		t.Errorf("detached: %+v", got)
	}
	// A linked worktree: .git is a file pointing into the main repository.
	wt := filepath.Join(t.TempDir(), "wt")
	write(filepath.Join(git, "worktrees", "wt", "HEAD"), "ref: refs/heads/main\n")
	write(filepath.Join(git, "worktrees", "wt", "commondir"), "../..\n")
	write(filepath.Join(git, "refs", "heads", "main"), sha+"\n")
	write(filepath.Join(wt, ".git"), "gitdir: "+filepath.Join(git, "worktrees", "wt")+"\n")
	if got := DetectGit(wt); got.Project != "shop" || got.Branch != "main" || got.Commit != sha {
		t.Errorf("worktree: %+v", got)
	}
	// No remote: the directory name.
	plain := filepath.Join(t.TempDir(), "my-app")
	os.MkdirAll(plain, 0o755)
	if got := DetectProject(plain); got != "my-app" {
		t.Errorf("DetectProject = %q", got)
	}
	if got := DetectProject(sub); got != "shop" {
		t.Errorf("DetectProject in checkout = %q", got)
	}
	for in, want := range map[string]string{"https://github.com/acme/shop.git": "shop", "git@github.com:acme/shop": "shop", "acme/shop/": "shop", "shop": "shop", "": ""} {
		if got := repoName(in); got != want {
			t.Errorf("repoName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultBranch(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	dir := t.TempDir()
	if got := DefaultBranch(env("GITLAB_CI", "true", "CI_DEFAULT_BRANCH", "trunk"), dir); got != "trunk" {
		t.Errorf("GitLab: %q", got)
	}
	if got := DefaultBranch(env("BUILDKITE", "true", "BUILDKITE_PIPELINE_DEFAULT_BRANCH", "develop"), dir); got != "develop" {
		t.Errorf("Buildkite: %q", got)
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"pull_request":{"number":3},"repository":{"full_name":"acme/shop","default_branch":"production"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultBranch(env("GITHUB_ACTIONS", "true", "GITHUB_EVENT_PATH", event), dir); got != "production" {
		t.Errorf("GitHub: %q", got)
	}
	// A local clone: origin/HEAD, from a subdirectory.
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(filepath.Join(repo, ".git", "refs", "remotes", "origin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, ".git", "refs", "remotes", "origin", "HEAD"), []byte("ref: refs/remotes/origin/master\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultBranch(env(), filepath.Join(repo, "sub")); got != "master" {
		t.Errorf("origin/HEAD: %q", got)
	}
	if got := DefaultBranch(env("GITHUB_ACTIONS", "true", "GITHUB_EVENT_PATH", filepath.Join(dir, "nope.json")), dir); got != "" {
		t.Errorf("nothing known: %q", got)
	}
}

// Detect gives flags precedence over the CI over the checkout, and never
// files the checkout's commit under another branch named by a flag.
func TestDetect(t *testing.T) {
	root := filepath.Join(t.TempDir(), "shop")
	sha := strings.Repeat("cd", 20)
	os.MkdirAll(filepath.Join(root, ".git", "refs", "heads"), 0o755)
	os.WriteFile(filepath.Join(root, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	os.WriteFile(filepath.Join(root, ".git", "refs", "heads", "main"), []byte(sha+"\n"), 0o644)
	env := Env{Getenv: fakeEnv(), Dir: root}
	if got := Detect(env, Info{}); got.Project != "shop" || got.Branch != "main" || got.Commit != sha {
		t.Errorf("from the checkout: %+v", got)
	}
	if got := Detect(env, Info{Branch: "feature"}); got.Branch != "feature" || got.Commit != "" {
		t.Errorf("--branch feature took main's commit: %+v", got)
	}
	if got := Detect(env, Info{Branch: "main"}); got.Commit != sha {
		t.Errorf("--branch main lost its commit: %+v", got)
	}
	gh := Env{Getenv: fakeEnv("GITHUB_ACTIONS", "true", "GITHUB_REF_NAME", "pr-7", "GITHUB_SHA", "777", "GITHUB_REPOSITORY", "acme/api"), Dir: root}
	if got := Detect(gh, Info{Project: "named"}); got.Project != "named" || got.Branch != "pr-7" || got.Commit != "777" || got.CIProvider != "github-actions" {
		t.Errorf("on GitHub Actions: %+v", got)
	}
	if got := Detect(Env{Dir: t.TempDir()}, Info{}); got.Project == "" || got.Branch != "" {
		t.Errorf("outside a checkout: %+v", got)
	}
}

func TestOriginURLDropsCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://x-access-token:ghs_secret@github.com/o/r.git": "https://github.com/o/r.git",
		"git@github.com:o/r.git":                               "git@github.com:o/r.git",
		"https://github.com/o/r":                               "https://github.com/o/r",
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
		os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("[remote \"origin\"]\n\turl = "+in+"\n"), 0o644)
		if got := OriginURL(dir); got != want {
			t.Errorf("OriginURL(%s) = %q, want %q", in, got, want)
		}
	}
	if got := OriginURL(t.TempDir()); got != "" {
		t.Errorf("outside a checkout: %q", got)
	}
}
