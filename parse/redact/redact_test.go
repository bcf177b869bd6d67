package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse/model"
)

// Every token shape is masked whole, in the contexts logs print tokens.
func TestTokenShapes(t *testing.T) {
	contexts := []struct {
		name, format, want string
	}{
		{"alone", "%s", "***"},
		{"in a sentence", "using %s for auth", "using *** for auth"},
		{"assigned", "TOKEN_VALUE_X=%s", "TOKEN_VALUE_X=***"},
		{"quoted", `echo "%s"`, `echo "***"`},
		{"json", `{"value":"%s"}`, `{"value":"***"}`},
		{"coloured", "\x1b[32m%s\x1b[0m", "\x1b[32m***\x1b[0m"},
		{"line end", "x: %s", "x: ***"},
		{"url user", "https://%s@host.example/x", "https://***@host.example/x"},
	}
	r := New(Options{})
	for _, tok := range tokens {
		for _, c := range contexts {
			in := strings.Replace(c.format, "%s", tok.value, 1)
			if got := r.String(in); got != c.want {
				t.Errorf("%s %s: %q\n  masked to %q\n  want     %q", tok.name, c.name, in, got, c.want)
			}
		}
	}
}

// Named settings: the value is masked, the name kept.
func TestNamedSecrets(t *testing.T) {
	aws := tokens[slices.IndexFunc(tokens, func(t token) bool { return t.name == "aws access key id" })].value
	tests := []struct{ in, want string }{
		{"password=hunter2", "password=***"},
		{"PASSWORD=hunter2 make", "PASSWORD=*** make"},
		{"passwd: hunter2", "passwd: ***"},
		{"Server=db;User Id=sa;Pwd=hunter2;", "Server=db;User Id=sa;Pwd=***;"},
		{"DB_PASSWORD='correct horse'", "DB_PASSWORD='***'"},
		{`{"password": "hunter2", "user": "bob"}`, `{"password": "***", "user": "bob"}`},
		{"passphrase => 'x y z'", "passphrase => '***'"},
		{"CLIENT_SECRET=abc123", "CLIENT_SECRET=***"},
		{"aws_secret_access_key = " + awsSecretKey, "aws_secret_access_key = ***"},
		{`"SecretAccessKey": "` + awsSecretKey + `",`, `"SecretAccessKey": "***",`},
		{`"AccessKeyId": "` + aws + `",`, `"AccessKeyId": "***",`},
		{`"SessionToken": "IQoJb3JpZ2luX2VjEJr//////////wEaCXVz"`, `"SessionToken": "***"`},
		{"SECRET_KEY_BASE=0123abcd", "SECRET_KEY_BASE=***"},
		{"export NPM_TOKEN=abc123def", "export NPM_TOKEN=***"},
		{"GITHUB_TOKEN: abc123def", "GITHUB_TOKEN: ***"},
		{"API_KEY=k-123456", "API_KEY=***"},
		{"x-api-key: k-123456", "x-api-key: ***"},
		{"apiKey=k-123456&user=bob", "apiKey=***&user=bob"},
		{"https://api.example/v1?access_token=abc123&x=1", "https://api.example/v1?access_token=***&x=1"},
		{"PRIVATE-TOKEN: abc123def", "PRIVATE-TOKEN: ***"},
		{"//registry.npmjs.org/:_authToken=abc123def", "//registry.npmjs.org/:_authToken=***"},
		{"_auth=dXNlcjpwYXNz", "_auth=***"},
		{`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}`, `{"auths":{"https://index.docker.io/v1/":{"auth":"***"}}}`},
		{`DOCKER_AUTH_CONFIG={"auths":{"registry.gitlab.com":{"auth":"Zm9vOmJhcg=="}}}`, `DOCKER_AUTH_CONFIG={"auths":{"registry.gitlab.com":{"auth":"***"}}}`},
		{"AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountKey=abc==", "AZURE_STORAGE_CONNECTION_STRING=***;AccountKey=***"},
		{"CI_JOB_JWT_V2=abc.def.ghi", "CI_JOB_JWT_V2=***"},
		{"docker login --password hunter2 registry.example", "docker login --password *** registry.example"},
		{`sh -c "deploy --token abc123def"`, `sh -c "deploy --token ***"`},
		{"mysql --password=hunter2", "mysql --password=***"},
		{"[2/4] ENV NPM_TOKEN abc123def", "[2/4] ENV NPM_TOKEN ***"},
		{"[2/4] ENV NPM_TOKEN=abc123def", "[2/4] ENV NPM_TOKEN=***"},
		{"curl -H 'Authorization: Bearer abc.def-ghi' https://x", "curl -H 'Authorization: Bearer ***' https://x"},
		{"Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"},
		{"Proxy-Authorization: token abc123", "Proxy-Authorization: token ***"},
		{"authorization=abc123", "authorization=***"},
		{"got bearer 0123456789abcdef back", "got bearer *** back"},
		{"curl -u bob:hunter2 https://x", "curl -u bob:*** https://x"},
		{"git clone https://bob:hunter2@git.example/r.git", "git clone https://bob:***@git.example/r.git"},
		{"https://x-access-token:abc123@github.com/o/r", "https://x-access-token:***@github.com/o/r"},
		{"redis://:hunter2@cache:6379", "redis://:***@cache:6379"},
		{"https://hooks.slack.com/services/T0ABCDEF/B0ABCDEF/abcdefghijklmnopqrstuvwx", "https://hooks.slack.com/services/***"},
		{"a=1,password=x", "a=1,password=***"},
		{`RUN echo "::add-mask::s3cr3t-v4lue" && env`, `RUN echo "::add-mask::***" && env`},
		{`process "/bin/sh -c echo \"::add-mask::s3cr3t-v4lue\" && env"`, `process "/bin/sh -c echo \"::add-mask::***\" && env"`},
		{"##[add-mask]s3cr3t-v4lue", "##[add-mask]***"},
		{"::add-mask::$GITHUB_TOKEN", "::add-mask::$GITHUB_TOKEN"},
		{"--secret=id=npmrc,password=x", "--secret=id=npmrc,password=***"},
	}
	r := New(Options{})
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("%q\n  masked to %q\n  want     %q", tt.in, got, tt.want)
		}
	}
}

// What looks like a secret but is not stays: digests, hashes, BuildKit
// secret mounts, variable references, the shell's PWD, --password-stdin.
func TestNotSecrets(t *testing.T) {
	for _, s := range []string{
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"#5 [1/8] FROM docker.io/library/node:18-alpine@sha256:8d6421d663b4c28fd3ebc498332f249011d118945588d0a35cb9bc4b8ca09d9e",
		"Checking out commit fe813df76f8db8eab04672299509530da03e25ed in branch main",
		"RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci",
		"RUN --mount=type=secret,id=aws,env=AWS_SECRET_ACCESS_KEY aws s3 ls",
		"docker buildx build --secret id=npmrc,src=$HOME/.npmrc .",
		"docker build --secret=id=npmrc,src=.npmrc .",
		"echo $DB_PASSWORD | docker login --username bob --password-stdin registry.example",
		"ARG NPM_TOKEN",
		"ENV NPM_TOKEN=$NPM_TOKEN",
		"ENV NPM_TOKEN ${NPM_TOKEN}",
		"--build-arg NPM_TOKEN=${NPM_TOKEN}",
		"password=$(cat /run/secrets/db)",
		"GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
		"PWD=/app",
		"OLDPWD=/",
		"root:x:0:0:root:/root:/bin/bash in /etc/passwd: ok",
		"PASSWORD_FILE=/run/secrets/db",
		"AWS_ACCESS_KEY_ID_FILE=/run/x",
		"SSH_AUTH_SOCK=/tmp/ssh-XXXX/agent.1",
		"PUBLIC_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG",
		"id = models.AutoField(primary_key=True)",
		"token=***",
		"password: true",
		"max_tokens=4096",
		"monkey=banana hotkey=F5 key=value",
		"ENV NODE_ENV=production",
		"npm_config_cache=/tmp/.npm",
		"Asia/Tokyo AKIA",
		"ghp_tooshort",
		"https://github.com/buildstats/buildstats",
		"ghcr.io/acme/shop:1.2.3",
		"git@github.com:acme/shop.git",
		"550e8400-e29b-41d4-a716-446655440000",
		"------",
	} {
		if got := New(Options{}).String(s); got != s {
			t.Errorf("%q\n  masked to %q", s, got)
		}
	}
}

func TestPrivateKeyBlocks(t *testing.T) {
	r := New(Options{})
	masked := func(lines []string) []string {
		out := make([]string, len(lines))
		for i := range lines {
			out[i] = "***"
		}
		return out
	}
	body := rsaKey[1 : len(rsaKey)-1]
	tests := []struct {
		name     string
		in, want []string
	}{
		{"whole block", append([]string{"writing key:"}, append(slices.Clone(rsaKey), "done")...),
			append(append([]string{"writing key:", rsaKey[0]}, masked(body)...), rsaKey[len(rsaKey)-1], "done")},
		{"tail starts inside", append(slices.Clone(body[10:]), rsaKey[len(rsaKey)-1], "done"),
			append(masked(body[10:]), rsaKey[len(rsaKey)-1], "done")},
		{"output ends inside", append([]string{"x", rsaKey[0]}, body[:5]...),
			append([]string{"x", rsaKey[0]}, masked(body[:5])...)},
		{"one line", []string{`"private_key_pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"`},
			[]string{`"private_key_pem": "***"`}},
		{"one line, no name", []string{`key -----BEGIN EC PRIVATE KEY-----MHcCAQEEIB-----END EC PRIVATE KEY----- ok`},
			[]string{`key -----BEGIN EC PRIVATE KEY-----***-----END EC PRIVATE KEY----- ok`}},
		{"openssh", []string{"-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=", "-----END OPENSSH PRIVATE KEY-----"},
			[]string{"-----BEGIN OPENSSH PRIVATE KEY-----", "***", "-----END OPENSSH PRIVATE KEY-----"}},
		{"pgp", []string{"-----BEGIN PGP PRIVATE KEY BLOCK-----", "", "lQOYBF", "=abcd", "-----END PGP PRIVATE KEY BLOCK-----"},
			[]string{"-----BEGIN PGP PRIVATE KEY BLOCK-----", "", "***", "***", "-----END PGP PRIVATE KEY BLOCK-----"}},
		{"public key stays", []string{"-----BEGIN PUBLIC KEY-----", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", "-----END PUBLIC KEY-----"},
			[]string{"-----BEGIN PUBLIC KEY-----", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", "-----END PUBLIC KEY-----"}},
		{"certificate stays", []string{"-----BEGIN CERTIFICATE-----", "MIIDdzCCAl+gAwIBAgIE", "-----END CERTIFICATE-----"},
			[]string{"-----BEGIN CERTIFICATE-----", "MIIDdzCCAl+gAwIBAgIE", "-----END CERTIFICATE-----"}},
	}
	for _, tt := range tests {
		got := r.Lines(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		if s := r.String(strings.Join(tt.in, "\n")); s != strings.Join(tt.want, "\n") {
			t.Errorf("%s as one string:\n got %q\nwant %q", tt.name, s, strings.Join(tt.want, "\n"))
		}
	}
}

func TestValues(t *testing.T) {
	secret := "s3cr3t-V4lue/with+chars&"
	r := New(Options{ExtraValues: []string{secret, "abc", "", "line-one\nline-two"}})
	b64 := base64.StdEncoding.EncodeToString([]byte("user:" + secret))
	tests := []struct{ in, want string }{
		{"got " + secret + " back", "got *** back"},
		{"url " + url.QueryEscape(secret), "url ***"},
		{"json " + jsonString(secret), "json ***"},
		{"abc is too short to mask", "abc is too short to mask"},
		{"line-one and line-two", "*** and ***"},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("%q masked to %q, want %q", tt.in, got, tt.want)
		}
	}
	// base64 at an offset: the characters that come from the secret alone
	// are masked, the rest stays.
	got := r.String("auth " + b64)
	if !strings.Contains(got, "***") || strings.Contains(got, b64[8:len(b64)-4]) {
		t.Errorf("base64 %q masked to %q", b64, got)
	}
	if got := New(Options{ExtraValues: []string{"abc"}, MinValueLen: 3}).String("xabcx"); got != "x***x" {
		t.Errorf("MinValueLen 3: %q", got)
	}
	// Longest value first.
	r2 := New(Options{ExtraValues: []string{"secret", "secret-long"}})
	if got := r2.String("a secret-long b"); got != "a *** b" {
		t.Errorf("overlapping values: %q", got)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestNone(t *testing.T) {
	in := "password=hunter2 " + tokens[0].value
	r := None()
	r.Add("hunter2")
	if got := r.String(in); got != in {
		t.Errorf("None masked %q to %q", in, got)
	}
	b := &model.Build{Error: in}
	r.Build(b)
	if b.Error != in {
		t.Error("None masked a build")
	}
	var nilR *Redactor
	if got := nilR.String(in); got != "password=*** ***" {
		t.Errorf("nil Redactor: %q", got)
	}
}

// A build is masked field by field; identifiers are not touched; values
// ::add-mask:: adds are masked everywhere, also before the line.
func TestBuild(t *testing.T) {
	tok := tokens[0].value
	b := &model.Build{
		Builder: "x " + tok, Error: "failed: " + tok, ErrorContext: []string{"   3 | >>> RUN echo " + tok},
		ErrorFile: "Dockerfile." + tok, Warnings: []model.Warning{{Vertex: "7", Text: "w " + tok}},
		ImageNames: []string{"img:" + tok}, ImageID: "sha256:0123abcd",
		Vertices: []*model.Vertex{
			{ID: "6", Digest: "sha256:aaaa", Name: "[2/3] RUN echo early-v4lue", Args: "echo early-v4lue"},
			{ID: "7", Digest: "sha256:bbbb", Inputs: []string{"sha256:aaaa"},
				Name: "[3/3] RUN echo " + tok, Platform: "linux/" + tok, Stage: "s" + tok, Instruction: "RUN", Args: "echo " + tok,
				Error: "e " + tok, Warnings: []string{"vw " + tok},
				Output:    []string{"before early-v4lue", "::add-mask::early-v4lue", "  ::ADD-MASK::other%25value", "##[add-mask]third-value", "::add-mask::ab", tok},
				Transfers: []model.Transfer{{Name: "t " + tok}}},
		},
	}
	r := New(Options{})
	r.Build(b)
	data, _ := json.Marshal(b)
	for _, leaked := range []string{tok, "early-v4lue", "other%25value", "other%value", "third-value"} {
		if strings.Contains(string(data), leaked) {
			t.Errorf("%q survives in %s", leaked, data)
		}
	}
	v := b.Vertices[1]
	if v.ID != "7" || v.Digest != "sha256:bbbb" || v.Inputs[0] != "sha256:aaaa" || b.ImageID != "sha256:0123abcd" || b.Warnings[0].Vertex != "7" {
		t.Error("identifiers were changed")
	}
	// "ab" is too short to mask everywhere, but its own line masks it.
	wantOut := []string{"before ***", "::add-mask::***", "  ::ADD-MASK::***", "##[add-mask]***", "::add-mask::***", "***"}
	if !slices.Equal(v.Output, wantOut) {
		t.Errorf("output = %q, want %q", v.Output, wantOut)
	}
	if b.Vertices[0].Name != "[2/3] RUN echo ***" {
		t.Errorf("a value masked later in the build is not masked before: %q", b.Vertices[0].Name)
	}
	if got := r.String("later early-v4lue"); got != "later ***" {
		t.Errorf("the Redactor did not keep the ::add-mask:: value: %q", got)
	}
	var nb *model.Build
	r.Build(nb) // no panic
}

func TestFromEnv(t *testing.T) {
	environ := []string{
		"HOME=/home/runner", "PATH=/usr/bin", "PWD=/work",
		"GITHUB_TOKEN=gh-value-1", "ACTIONS_RUNTIME_TOKEN=rt-value-2", "ACTIONS_ID_TOKEN_REQUEST_URL=https://x",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=idt-value-3", "CI_JOB_TOKEN=job-value-4", "CI_REGISTRY_PASSWORD=reg-value-5",
		"CI_REGISTRY_USER=gitlab-ci-token", "CI_JOB_JWT_V2=jwt-value-6", "BUILDKITE_AGENT_ACCESS_TOKEN=bk-value-7",
		"NPM_TOKEN=npm-value-8", "AWS_SECRET_ACCESS_KEY=aws-value-9", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE",
		"MY_DATABASE_URL=postgres://u:p@h/db", "DEPLOY_CREDS=custom-value-10", "SKIP_TOKEN_CHECK_ENABLED=true",
		"EMPTY_TOKEN=", "BROKEN",
	}
	getenv := func(k string) string {
		if k == "BUILDKITE_REDACTED_VARS" {
			return "*_CREDS, MY_*_URL"
		}
		return ""
	}
	got := FromEnv(getenv, environ)
	want := []string{"gh-value-1", "rt-value-2", "idt-value-3", "job-value-4", "reg-value-5", "jwt-value-6", "bk-value-7",
		"npm-value-8", "aws-value-9", "postgres://u:p@h/db", "custom-value-10"}
	if !slices.Equal(got, want) {
		t.Errorf("FromEnv =\n %q\nwant\n %q", got, want)
	}
	if got := FromEnv(func(string) string { return "" }, environ); slices.Contains(got, "custom-value-10") {
		t.Error("without BUILDKITE_REDACTED_VARS, DEPLOY_CREDS counts as secret")
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"GITHUB_TOKEN": true, "_authToken": true, "SecretAccessKey": true, "apiKey": true, "x-api-key": true,
		"AWS_SECRET_ACCESS_KEY": true, "password": true, "--password": true, "Pwd": true, "PWD": false,
		"auth": true, "basic_auth": true, "auth_type": false, "key": false, "KEY": false, "ssh_key": true,
		"AWS_ACCESS_KEY_ID": false, "PASSWORD_FILE": false, "password-stdin": false, "public_key": false,
		"max_tokens": false, "tokenizer": false, "CIRCLE_OIDC_TOKEN_V2": true, "connectionString": true,
		"DB_CONNECTION_STRING": true, "HTTPServerToken": true, "primary_key": false, "ACCESS_TOKEN_URL": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v (words %q)", name, got, want, nameWords(name))
		}
	}
}

// A failed step's error lines, kept from anywhere in its output, are
// masked like its output tail.
func TestBuildMasksErrorLines(t *testing.T) {
	b := &model.Build{Vertices: []*model.Vertex{{Name: "[1/1] RUN deploy", Error: "exit code: 1",
		ErrorLines: []string{"error: auth failed with password=hunter2hunter2", "fatal: token ghp_" + strings.Repeat("a", 36)}}}}
	New(Options{}).Build(b)
	for _, l := range b.Vertices[0].ErrorLines {
		if strings.Contains(l, "hunter2") || strings.Contains(l, strings.Repeat("a", 36)) {
			t.Errorf("error line not masked: %q", l)
		}
	}
}

// TestMayAddMask checks the cheap test against the regexp it guards: a
// line it rules out never matches.
func TestMayAddMask(t *testing.T) {
	for _, s := range []string{
		"::add-mask::secret", "##[add-mask]secret", "::ADD-MASK::x", "echo ::Add-Mask::x",
		"::add-maſk::x", "::add-mas\u212a::x", "add-mask", "-add-mask-", "gcc -O2 -c a.c", "", "-", "add-",
	} {
		if !mayAddMask(s) && addMaskRE.MatchString(s) {
			t.Errorf("mayAddMask(%q) = false, but the regexp matches", s)
		}
	}
	if mayAddMask("gcc -O2 -c src/module_1/file_3.c -o build/module_1/file_3.o -Wall") {
		t.Error("an ordinary line may add a mask")
	}
}

func FuzzMayAddMask(f *testing.F) {
	f.Add("::add-mask::secret")
	f.Add("##[ADD-MASK]x")
	f.Add("::add-maſk::x")
	f.Fuzz(func(t *testing.T, s string) {
		if !mayAddMask(s) && addMaskRE.MatchString(s) {
			t.Fatalf("mayAddMask(%q) = false, but the regexp matches", s)
		}
	})
}
