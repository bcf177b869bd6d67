package annotate

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// CI systems WriteFor knows.
const (
	CIGitHub    = "github"
	CIGitLab    = "gitlab"
	CIBuildkite = "buildkite"
	// CINone is any other place: plain text findings.
	CINone = "none"
)

// CIs lists the values --ci accepts besides "auto".
var CIs = []string{CIGitHub, CIGitLab, CIBuildkite, CINone}

// DetectCI names the CI system the process runs in from its environment,
// CINone when it is none of the known ones.
func DetectCI(getenv func(string) string) string {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return CIGitHub
	case getenv("GITLAB_CI") == "true":
		return CIGitLab
	case getenv("BUILDKITE") == "true":
		return CIBuildkite
	}
	return CINone
}

// workspaceVar is the variable holding the checkout directory of each CI,
// which annotation paths are relative to.
var workspaceVar = map[string]string{
	CIGitHub:    "GITHUB_WORKSPACE",
	CIGitLab:    "CI_PROJECT_DIR",
	CIBuildkite: "BUILDKITE_BUILD_CHECKOUT_PATH",
}

// RepoPath turns the Dockerfile path as given on the command line into
// the path the CI wants in annotations: relative to the checkout, with
// forward slashes. cwd is the process's working directory. A path outside
// the checkout, or with the workspace unknown, is only cleaned.
func RepoPath(ci string, getenv func(string) string, path, cwd string) string {
	ws := ""
	if v := workspaceVar[ci]; v != "" {
		ws = getenv(v)
	}
	p := path
	if ws != "" {
		abs := path
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(cwd, abs)
		}
		if rel, err := filepath.Rel(ws, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			p = rel
		}
	}
	return filepath.ToSlash(filepath.Clean(p))
}

// LineURLFunc returns a function linking to a line of a file at the
// commit being built, for the CI's repository browser, or nil when the
// environment does not say where the repository is.
func LineURLFunc(ci string, getenv func(string) string) func(file string, line int) string {
	var base string
	switch ci {
	case CIGitHub:
		server, repo, sha := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_SHA")
		if server == "" || repo == "" || sha == "" {
			return nil
		}
		base = strings.TrimRight(server, "/") + "/" + repo + "/blob/" + sha + "/"
	case CIGitLab:
		project, sha := getenv("CI_PROJECT_URL"), getenv("CI_COMMIT_SHA")
		if project == "" || sha == "" {
			return nil
		}
		base = strings.TrimRight(project, "/") + "/-/blob/" + sha + "/"
	default:
		return nil
	}
	return func(file string, line int) string {
		if filepath.IsAbs(file) || strings.HasPrefix(file, "../") {
			return ""
		}
		var parts []string
		for _, p := range strings.Split(file, "/") {
			parts = append(parts, url.PathEscape(p))
		}
		return base + strings.Join(parts, "/") + "#L" + strconv.Itoa(line)
	}
}
