package redact

import (
	"path"
	"strings"
)

// FromEnv returns the values of the environment variables that hold
// secrets, for Options.ExtraValues. environ is os.Environ's list of
// NAME=value; getenv reads single variables (os.Getenv).
//
// No CI tells a process which of its variables are secret, so FromEnv
// goes by name: a variable is secret when its name is (see the package
// documentation: GITHUB_TOKEN, ACTIONS_RUNTIME_TOKEN and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN on GitHub Actions; CI_JOB_TOKEN,
// CI_JOB_JWT*, CI_REGISTRY_PASSWORD, CI_DEPLOY_PASSWORD and
// CI_DEPENDENCY_PROXY_PASSWORD on GitLab; BUILDKITE_AGENT_ACCESS_TOKEN on
// Buildkite; CIRCLE_OIDC_TOKEN*; NPM_TOKEN, AWS_SECRET_ACCESS_KEY and the
// like anywhere), or when it matches one of the comma-separated glob
// patterns of BUILDKITE_REDACTED_VARS, the list the Buildkite agent
// redacts from its own log. Secrets a CI keeps out of the environment
// (GitHub's secrets context, GitLab's masked variables that a job does
// not use) are not there to find; pass those through ExtraValues.
// Empty values and booleans are left out; New leaves out short ones.
func FromEnv(getenv func(string) string, environ []string) []string {
	var globs []string
	for _, g := range strings.Split(getenv("BUILDKITE_REDACTED_VARS"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			globs = append(globs, g)
		}
	}
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || notSecret(value) {
			continue
		}
		if secretName(name) || matchAny(globs, name) {
			out = append(out, value)
		}
	}
	return out
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
