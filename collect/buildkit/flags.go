package buildkit

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/go-csvvalue"
)

// The flags below take docker buildx build's syntax.

// csvFields splits a flag value into key=value pairs, in order.
func csvFields(flag, s string) ([][2]string, error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w", flag, s, err)
	}
	out := make([][2]string, 0, len(fields))
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--%s %q: %q is not key=value", flag, s, f)
		}
		out = append(out, [2]string{strings.ToLower(strings.TrimSpace(k)), v})
	}
	return out, nil
}

// SecretValues reads the values --secret values name, so they can be
// masked wherever the build's output shows them.
func SecretValues(list []string, getenv func(string) string) ([]string, error) {
	sources, _, err := parseSecrets(list, getenv)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sources {
		if s.FilePath != "" {
			dt, err := os.ReadFile(s.FilePath)
			if err != nil {
				return nil, fmt.Errorf("--secret %s: %w", s.ID, err)
			}
			out = append(out, strings.TrimSpace(string(dt)))
		} else {
			out = append(out, getenv(s.Env))
		}
	}
	return out, nil
}

// secretProvider turns --secret values (id=ID[,src=FILE|,env=VAR]
// [,type=file|env]) into the session attachable that hands them to RUN
// --mount=type=secret, and the ids, which are all that is recorded.
func secretProvider(list []string, getenv func(string) string) (session.Attachable, []string, error) {
	if len(list) == 0 {
		return nil, nil, nil
	}
	sources, ids, err := parseSecrets(list, getenv)
	if err != nil {
		return nil, nil, err
	}
	st, err := secretsprovider.NewStore(sources)
	if err != nil {
		return nil, nil, fmt.Errorf("--secret: %w", err)
	}
	return secretsprovider.NewSecretProvider(st), ids, nil
}

// parseSecrets reads --secret values as buildx does.
func parseSecrets(list []string, getenv func(string) string) ([]secretsprovider.Source, []string, error) {
	var sources []secretsprovider.Source
	var ids []string
	for _, s := range list {
		fields, err := csvFields("secret", s)
		if err != nil {
			return nil, nil, err
		}
		var src secretsprovider.Source
		typ := ""
		for _, kv := range fields {
			switch kv[0] {
			case "id":
				src.ID = kv[1]
			case "src", "source":
				src.FilePath = kv[1]
			case "env":
				src.Env = kv[1]
			case "type":
				typ = kv[1]
			default:
				return nil, nil, fmt.Errorf("--secret %q: unknown key %q (want id, src, env, type)", s, kv[0])
			}
		}
		if src.ID == "" {
			return nil, nil, fmt.Errorf("--secret %q: id= is required", s)
		}
		switch typ {
		case "":
		case "env":
			if src.Env == "" {
				src.Env = src.ID
			}
		case "file":
			if src.FilePath == "" {
				src.FilePath = src.ID
			}
		default:
			return nil, nil, fmt.Errorf("--secret %q: type %q (want file or env)", s, typ)
		}
		if src.FilePath == "" && src.Env == "" {
			// As buildx: a variable of that name, else a file.
			if getenv(src.ID) != "" {
				src.Env = src.ID
			} else {
				src.FilePath = src.ID
			}
		}
		if src.FilePath != "" {
			if _, err := os.Stat(src.FilePath); err != nil {
				return nil, nil, fmt.Errorf("--secret %s: %w", src.ID, err)
			}
		} else if getenv(src.Env) == "" {
			return nil, nil, fmt.Errorf("--secret %s: $%s is not set", src.ID, src.Env)
		}
		sources = append(sources, src)
		ids = append(ids, src.ID)
	}
	return sources, ids, nil
}

// sshProvider turns --ssh values (default, or ID[=SOCKET|KEY[,...]]) into
// the agent forwarding attachable for RUN --mount=type=ssh, and the ids.
func sshProvider(list []string) (session.Attachable, []string, error) {
	if len(list) == 0 {
		return nil, nil, nil
	}
	var confs []sshprovider.AgentConfig
	var ids []string
	for _, s := range list {
		id, paths, _ := strings.Cut(s, "=")
		if id == "" {
			return nil, nil, fmt.Errorf("--ssh %q: want default or ID[=PATH,...]", s)
		}
		c := sshprovider.AgentConfig{ID: id}
		if paths != "" {
			c.Paths = strings.Split(paths, ",")
		}
		confs = append(confs, c)
		ids = append(ids, id)
	}
	p, err := sshprovider.NewSSHAgentProvider(confs)
	if err != nil {
		return nil, nil, fmt.Errorf("--ssh: %w", err)
	}
	return p, ids, nil
}

// ParseCache parses --cache-from and --cache-to values: type=TYPE,KEY=VALUE
// as buildx takes them, or a bare image reference for type=registry.
func ParseCache(flag string, list []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, s := range list {
		if !strings.Contains(s, "=") {
			out = append(out, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": s}})
			continue
		}
		fields, err := csvFields(flag, s)
		if err != nil {
			return nil, err
		}
		e := client.CacheOptionsEntry{Attrs: map[string]string{}}
		for _, kv := range fields {
			if kv[0] == "type" {
				e.Type = kv[1]
			} else {
				e.Attrs[kv[0]] = kv[1]
			}
		}
		if e.Type == "" {
			return nil, fmt.Errorf("--%s %q: type= is required", flag, s)
		}
		out = append(out, e)
	}
	return out, nil
}

// attestAttrs turns --attest type=TYPE[,...], --provenance and --sbom
// into the frontend attributes buildx sends: attest:TYPE = the other
// fields; a false value disables the attestation.
func attestAttrs(attests []string, provenance, sbom string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range attests {
		fields, err := csvvalue.Fields(s, nil)
		if err != nil {
			return nil, fmt.Errorf("--attest %q: %w", s, err)
		}
		typ := ""
		var rest []string
		for _, f := range fields {
			if k, v, ok := strings.Cut(f, "="); ok && strings.ToLower(k) == "type" {
				typ = v
			} else {
				rest = append(rest, f)
			}
		}
		if typ == "" {
			return nil, fmt.Errorf("--attest %q: type= is required (provenance or sbom)", s)
		}
		out["attest:"+typ] = strings.Join(rest, ",")
	}
	for typ, v := range map[string]string{"provenance": provenance, "sbom": sbom} {
		if v == "" {
			continue
		}
		if b, err := strconv.ParseBool(v); err == nil {
			if b {
				v = ""
			} else {
				v = "disabled=true"
			}
		}
		out["attest:"+typ] = v
	}
	return out, nil
}

// networkMode checks a --network value for BuildKit builds and says which
// entitlement it needs.
func networkMode(n string) (string, []string, error) {
	switch n {
	case "", "default":
		return "", nil, nil
	case "none":
		return "none", nil, nil
	case "host":
		return "host", []string{"network.host"}, nil
	}
	return "", nil, fmt.Errorf("--network %q: want default, none or host", n)
}

// sortedKeys lists m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
