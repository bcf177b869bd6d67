package safetest

import (
	"strings"
	"testing"
)

func TestProblems(t *testing.T) {
	tests := []struct {
		name, out string
		opts      Options
		want      []string // a substring of each problem, in order
	}{
		{"neutral", "ok\n  | \\::error::x\n#\\#vso[a.b]\n\\--- g\n", Options{}, nil},
		{"github", "a\n  ::warning::x\n", Options{}, []string{"line 2: GitHub workflow command ::warning::"}},
		{"github after ZWSP", "\u200b::error::x", Options{}, []string{"GitHub workflow command"}},
		{"github after NBSP", "\u00a0::error::x", Options{}, []string{"GitHub workflow command"}},
		{"github v1", "x ##[add-mask]y", Options{}, []string{"##[ command"}},
		{"azure split by soft hyphen", "#\u00ad#vso[a.b]", Options{}, []string{"##vso[ command"}},
		{"teamcity", "##TeamCity[x]", Options{}, []string{"##teamcity[ service message"}},
		{"buildkite", "--- g", Options{}, []string{"Buildkite group header"}},
		{"buildkite bare", "---", Options{}, []string{"Buildkite group header"}},
		{"buildkite expand", "^^^  +++ ", Options{}, []string{"Buildkite group header"}},
		{"not buildkite", "---- x\n+ make\n-- x", Options{}, nil},
		{"gitlab", "section_start:1:a[collapsed=true]\r\x1b[0K", Options{}, []string{"raw CR", "GitLab section marker"}},
		{"controls", "a\x1bb\nc\u009bd\ne\u202ef\ng\u2028h\ni\x07j", Options{}, []string{"line 1: raw ESC", "line 2: raw C1", "line 3: raw bidi", "line 4: raw line separator", "line 5: raw control U+0007"}},
		{"invalid UTF-8", "a\xffb", Options{}, []string{"invalid UTF-8"}},
		{"secret", "token ghp_x\n", Options{Secrets: []string{"ghp_x"}}, []string{`secret "ghp_x" appears`}},
		{"allowed command", "::warning file=D,line=1,title=t::msg%0A\\::error::x", Options{GitHubCommands: []string{"warning"}}, nil},
		{"command not allowed", "::error::msg", Options{GitHubCommands: []string{"warning"}}, []string{"GitHub workflow command ::error::"}},
		{"allowed command, hostile message", "::warning::msg%0A::error::x%0A##vso[a.b]", Options{GitHubCommands: []string{"warning"}},
			// The command line itself holds ##vso[ for Azure, too.
			[]string{"in the message of ::warning::: GitHub workflow command ::error::", "in the message of ::warning::: Azure ##vso[", "line 1: Azure ##vso["}},
		{"allowed command, CR in message", "::warning::a%0Db", Options{GitHubCommands: []string{"warning"}}, []string{"raw CR"}},
	}
	for _, tt := range tests {
		got := Problems(tt.out, tt.opts)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d problems, want %d: %q", tt.name, len(got), len(tt.want), got)
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tt.want[i]) {
				t.Errorf("%s: problem %q, want one about %q", tt.name, got[i], tt.want[i])
			}
		}
	}
}
