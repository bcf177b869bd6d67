package buildenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/buildstats/buildstats/store"
)

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

// HashReader passes a log through while hashing it, so the CLI can parse
// and compute Meta.ContentHash in one read.
type HashReader struct {
	r io.Reader
	h hash.Hash
}

// NewHashReader wraps r.
func NewHashReader(r io.Reader) *HashReader { return &HashReader{r: r, h: sha256.New()} }

func (h *HashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// Sum returns "sha256:<hex>" of everything read so far. Drain the reader
// first (io.Copy(io.Discard, h)) in case the parser stopped early.
func (h *HashReader) Sum() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }

// DetectCI reads the CI provider's environment: provider, run URL, runner,
// branch, commit and project. It knows GitHub Actions, GitLab CI, Buildkite,
// CircleCI and Jenkins, and returns the zero Meta elsewhere.
func DetectCI(getenv func(string) string) store.Meta {
	e := getenv
	switch {
	case e("GITHUB_ACTIONS") == "true":
		m := store.Meta{CIProvider: "github-actions", Commit: e("GITHUB_SHA"), Project: repoName(e("GITHUB_REPOSITORY"))}
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
		return store.Meta{
			CIProvider: "gitlab-ci",
			RunURL:     first(e("CI_JOB_URL"), e("CI_PIPELINE_URL")),
			Branch:     first(e("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"), e("CI_COMMIT_BRANCH"), e("CI_COMMIT_REF_NAME")),
			Commit:     e("CI_COMMIT_SHA"),
			Runner:     first(e("CI_RUNNER_DESCRIPTION"), e("CI_RUNNER_ID")),
			Project:    first(e("CI_PROJECT_NAME"), repoName(e("CI_PROJECT_PATH"))),
		}
	case e("BUILDKITE") == "true":
		m := store.Meta{
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
		return store.Meta{
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
		return store.Meta{
			CIProvider: "jenkins",
			RunURL:     e("BUILD_URL"),
			Branch:     branch,
			Commit:     e("GIT_COMMIT"),
			Runner:     e("NODE_NAME"),
			Project:    project,
		}
	}
	return store.Meta{}
}

// DetectGit reads the checkout containing dir: project (the origin
// remote's repository name), branch and commit. It reads .git directly
// rather than running git, so it works where git is not installed, and
// returns what it could find.
func DetectGit(dir string) store.Meta {
	gitDir, common := findGitDir(dir)
	if gitDir == "" {
		return store.Meta{}
	}
	var m store.Meta
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
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		gitDir := filepath.Join(abs, ".git")
		if st, err := os.Stat(gitDir); err == nil {
			if !st.IsDir() {
				// A worktree: ".git" names its own directory, whose
				// "commondir" leads to the shared refs.
				data, _ := os.ReadFile(gitDir)
				g, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir: ")
				if !ok {
					return ""
				}
				if !filepath.IsAbs(g) {
					g = filepath.Join(abs, g)
				}
				gitDir = g
				if c, err := os.ReadFile(filepath.Join(g, "commondir")); err == nil {
					cd := strings.TrimSpace(string(c))
					if !filepath.IsAbs(cd) {
						cd = filepath.Join(g, cd)
					}
					gitDir = cd
				}
			}
			data, err := os.ReadFile(filepath.Join(gitDir, "refs", "remotes", "origin", "HEAD"))
			if err != nil {
				return ""
			}
			ref, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "ref: refs/remotes/origin/")
			if !ok {
				return ""
			}
			return ref
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return ""
		}
		abs = parent
	}
}
