// Package buildenv reads what the environment says about a build: the CI
// provider, run and runner, the project, branch and commit (from the CI's
// variables, else the git checkout), the repository's default branch, and
// where the build history lives by default. Every command asks it, in the
// same order, so that a build is filed and found under the same names.
package buildenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Info is what the environment says about a build.
type Info struct {
	Project    string
	Branch     string
	Commit     string
	CIProvider string // "github-actions", "gitlab-ci", "buildkite", "circleci", "jenkins"
	RunURL     string
	Runner     string
}

// Merge returns i with its empty fields filled from o.
func (i Info) Merge(o Info) Info {
	for _, f := range []struct {
		a *string
		b string
	}{{&i.Project, o.Project}, {&i.Branch, o.Branch}, {&i.Commit, o.Commit},
		{&i.CIProvider, o.CIProvider}, {&i.RunURL, o.RunURL}, {&i.Runner, o.Runner}} {
		if *f.a == "" {
			*f.a = f.b
		}
	}
	return i
}

// Env is what detection reads: the process environment and the directory
// the build ran in (its git checkout, its name).
type Env struct {
	Getenv func(string) string
	Dir    string
}

// Detect fills the empty fields of given (what the user said) from the
// CI's environment, then from the git checkout of e.Dir, and the project,
// last, from the directory's name. A commit belongs to its branch: when
// the user names a branch, a commit detected for another branch is not
// used.
func Detect(e Env, given Info) Info {
	getenv := e.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ci, git := DetectCI(getenv), DetectGit(e.Dir)
	if given.Branch != "" {
		for _, d := range []*Info{&ci, &git} {
			if d.Branch != given.Branch {
				d.Commit = ""
			}
		}
	}
	i := given.Merge(ci).Merge(git)
	if i.Project == "" {
		i.Project = DetectProject(e.Dir)
	}
	return i
}

// DefaultPath is where the history lives when --db is not given:
// $BUILDSTATS_DB, else $XDG_DATA_HOME/buildstats/history.db, else
// ~/.local/share/buildstats/history.db. getenv is os.Getenv outside tests.
func DefaultPath(getenv func(string) string) (string, error) {
	if p := getenv("BUILDSTATS_DB"); p != "" {
		return p, nil
	}
	// The XDG spec says relative values are invalid and must be ignored.
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "buildstats", "history.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", errors.New("cannot place the build history: set --db, BUILDSTATS_DB, XDG_DATA_HOME or HOME")
		}
	}
	return filepath.Join(home, ".local", "share", "buildstats", "history.db"), nil
}

// DetectCI reads the CI provider's environment: provider, run URL, runner,
// branch, commit and project. It knows GitHub Actions, GitLab CI, Buildkite,
// CircleCI and Jenkins, and returns the zero Meta elsewhere.
func DetectCI(getenv func(string) string) Info {
	e := getenv
	switch {
	case e("GITHUB_ACTIONS") == "true":
		m := Info{CIProvider: "github-actions", Commit: e("GITHUB_SHA"), Project: repoName(e("GITHUB_REPOSITORY"))}
		if e("GITHUB_SERVER_URL") != "" && e("GITHUB_REPOSITORY") != "" && e("GITHUB_RUN_ID") != "" {
			m.RunURL = e("GITHUB_SERVER_URL") + "/" + e("GITHUB_REPOSITORY") + "/actions/runs/" + e("GITHUB_RUN_ID")
			if a := e("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
				m.RunURL += "/attempts/" + a
			}
		}
		// Pull requests build a merge ref; the head branch is what people
		// call the branch.
		m.Branch = first(e("GITHUB_HEAD_REF"), e("GITHUB_REF_NAME"))
		m.Runner = first(e("RUNNER_NAME"), joinNonEmpty("/", e("RUNNER_OS"), e("RUNNER_ARCH")))
		return m
	case e("GITLAB_CI") == "true":
		return Info{
			CIProvider: "gitlab-ci",
			RunURL:     first(e("CI_JOB_URL"), e("CI_PIPELINE_URL")),
			Branch:     first(e("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"), e("CI_COMMIT_BRANCH"), e("CI_COMMIT_REF_NAME")),
			Commit:     e("CI_COMMIT_SHA"),
			Runner:     first(e("CI_RUNNER_DESCRIPTION"), e("CI_RUNNER_ID")),
			Project:    first(e("CI_PROJECT_NAME"), repoName(e("CI_PROJECT_PATH"))),
		}
	case e("BUILDKITE") == "true":
		m := Info{
			CIProvider: "buildkite",
			RunURL:     e("BUILDKITE_BUILD_URL"),
			Branch:     e("BUILDKITE_BRANCH"),
			Commit:     e("BUILDKITE_COMMIT"),
			Runner:     e("BUILDKITE_AGENT_NAME"),
			Project:    first(repoName(e("BUILDKITE_REPO")), e("BUILDKITE_PIPELINE_SLUG")),
		}
		if m.RunURL != "" && e("BUILDKITE_JOB_ID") != "" {
			m.RunURL += "#" + e("BUILDKITE_JOB_ID")
		}
		if m.Commit == "HEAD" { // Buildkite's placeholder before checkout
			m.Commit = ""
		}
		return m
	case e("CIRCLECI") == "true":
		return Info{
			CIProvider: "circleci",
			RunURL:     e("CIRCLE_BUILD_URL"),
			Branch:     e("CIRCLE_BRANCH"),
			Commit:     e("CIRCLE_SHA1"),
			Runner:     joinNonEmpty(" #", e("CIRCLE_JOB"), e("CIRCLE_NODE_INDEX")),
			Project:    first(e("CIRCLE_PROJECT_REPONAME"), repoName(e("CIRCLE_REPOSITORY_URL"))),
		}
	case e("JENKINS_URL") != "" || e("JENKINS_HOME") != "":
		branch := first(e("CHANGE_BRANCH"), e("BRANCH_NAME"), e("GIT_BRANCH"))
		branch = strings.TrimPrefix(strings.TrimPrefix(branch, "refs/heads/"), "origin/")
		project := repoName(e("GIT_URL"))
		if project == "" {
			// Multibranch jobs are named "folder/repo/branch".
			job := strings.TrimSuffix(e("JOB_NAME"), "/"+e("BRANCH_NAME"))
			project = repoName(job)
		}
		return Info{
			CIProvider: "jenkins",
			RunURL:     e("BUILD_URL"),
			Branch:     branch,
			Commit:     e("GIT_COMMIT"),
			Runner:     e("NODE_NAME"),
			Project:    project,
		}
	}
	return Info{}
}

// DetectGit reads the checkout containing dir: project (the origin
// remote's repository name), branch and commit. It reads .git directly
// rather than running git, so it works where git is not installed, and
// returns what it could find.
func DetectGit(dir string) Info {
	gitDir, common := findGitDir(dir)
	if gitDir == "" {
		return Info{}
	}
	var m Info
	m.Project = repoName(originURL(filepath.Join(common, "config")))
	head := strings.TrimSpace(readFile(filepath.Join(gitDir, "HEAD")))
	if ref, ok := strings.CutPrefix(head, "ref: "); ok {
		m.Branch = strings.TrimPrefix(ref, "refs/heads/")
		m.Commit = resolveRef(gitDir, common, ref)
	} else if isHex(head) {
		m.Commit = head // detached HEAD, as CI checkouts often are
	}
	return m
}

// DetectProject names the project built in dir: the origin remote's
// repository name, else the directory's name.
func DetectProject(dir string) string {
	if p := DetectGit(dir).Project; p != "" {
		return p
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Base(dir)
	}
	return filepath.Base(abs)
}

// findGitDir walks up from dir to the repository. It returns the git
// directory (a worktree's own one for linked worktrees) and the common
// directory holding config and shared refs.
func findGitDir(dir string) (gitDir, common string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", ""
	}
	for {
		p := filepath.Join(abs, ".git")
		if st, err := os.Stat(p); err == nil {
			if st.IsDir() {
				return p, p
			}
			// A worktree or submodule: ".git" is a file "gitdir: <path>".
			if g, ok := strings.CutPrefix(strings.TrimSpace(readFile(p)), "gitdir: "); ok {
				if !filepath.IsAbs(g) {
					g = filepath.Join(abs, g)
				}
				common = g
				if c := strings.TrimSpace(readFile(filepath.Join(g, "commondir"))); c != "" {
					if !filepath.IsAbs(c) {
						c = filepath.Join(g, c)
					}
					common = c
				}
				return g, common
			}
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", ""
		}
		abs = parent
	}
}

// originURL returns remote "origin"'s url from a git config file.
func originURL(config string) string {
	f, err := os.Open(config)
	if err != nil {
		return ""
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.ReplaceAll(line, " ", "") == `[remote"origin"]`
			continue
		}
		if !in {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "url" {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// resolveRef reads a branch's commit from loose refs or packed-refs.
func resolveRef(gitDir, common, ref string) string {
	for _, d := range []string{gitDir, common} {
		if s := strings.TrimSpace(readFile(filepath.Join(d, filepath.FromSlash(ref)))); isHex(s) {
			return s
		}
	}
	for _, line := range strings.Split(readFile(filepath.Join(common, "packed-refs")), "\n") {
		if sha, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == ref && isHex(sha) {
			return sha
		}
	}
	return "" // an unborn branch
}

// repoName is the last path element of a repository URL or path, without
// ".git": "git@github.com:acme/shop.git" and "acme/shop" give "shop".
func repoName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, "/")
	s = strings.TrimSuffix(s, ".git")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func readFile(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(data)
}

func isHex(s string) bool {
	if len(s) < 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func first(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

func joinNonEmpty(sep string, xs ...string) string {
	var parts []string
	for _, x := range xs {
		if x != "" {
			parts = append(parts, x)
		}
	}
	return strings.Join(parts, sep)
}

// DefaultBranch finds the repository's default branch: from the CI's
// environment (GitLab CI_DEFAULT_BRANCH, Buildkite
// BUILDKITE_PIPELINE_DEFAULT_BRANCH, the GitHub Actions event payload),
// else from the checkout's origin/HEAD. It returns "" when none says.
func DefaultBranch(getenv func(string) string, dir string) string {
	if b := getenv("CI_DEFAULT_BRANCH"); b != "" && getenv("GITLAB_CI") == "true" {
		return b
	}
	if b := getenv("BUILDKITE_PIPELINE_DEFAULT_BRANCH"); b != "" && getenv("BUILDKITE") == "true" {
		return b
	}
	if getenv("GITHUB_ACTIONS") == "true" && getenv("GITHUB_EVENT_PATH") != "" {
		// GitHub puts the default branch only in the event payload.
		if data, err := os.ReadFile(getenv("GITHUB_EVENT_PATH")); err == nil {
			var ev struct {
				Repository struct {
					DefaultBranch string `json:"default_branch"`
				} `json:"repository"`
			}
			if json.Unmarshal(data, &ev) == nil && ev.Repository.DefaultBranch != "" {
				return ev.Repository.DefaultBranch
			}
		}
	}
	return originHead(dir)
}

// originHead reads refs/remotes/origin/HEAD ("ref: refs/remotes/origin/main")
// of the checkout containing dir, which git clone sets to the remote's
// default branch.
func originHead(dir string) string {
	_, common := findGitDir(dir)
	if common == "" {
		return ""
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(readFile(filepath.Join(common, "refs", "remotes", "origin", "HEAD"))), "ref: refs/remotes/origin/")
	if !ok {
		return ""
	}
	return ref
}

// OriginURL is the origin remote's URL of the checkout holding dir, as
// buildx records it in vcs:source, with any user name or token taken
// out; "" outside a checkout or without an origin.
func OriginURL(dir string) string {
	_, common := findGitDir(dir)
	if common == "" {
		return ""
	}
	u := originURL(filepath.Join(common, "config"))
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		host := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			host = rest[:j]
		}
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			u = u[:i+3] + rest[at+1:]
		}
	}
	return u
}
