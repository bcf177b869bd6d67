package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Enum is a string flag that accepts only its listed values: a wrong value
// is refused when the flag is parsed (exit status 2), and the values are
// offered for shell completion.
type Enum struct {
	Value   string
	Allowed []string
	// What names the value in errors: "unknown output format "xml"".
	What string
}

// NewEnum returns an Enum set to def, which must be one of allowed.
func NewEnum(def string, allowed ...string) *Enum { return &Enum{Value: def, Allowed: allowed} }

func (e *Enum) String() string { return e.Value }

// Set refuses values that are not allowed.
func (e *Enum) Set(v string) error {
	for _, a := range e.Allowed {
		if v == a {
			e.Value = v
			return nil
		}
	}
	what := e.What
	if what == "" {
		what = "value"
	}
	return fmt.Errorf("unknown %s %q (want %s)", what, v, strings.Join(e.Allowed, ", "))
}

// Type is what --help shows in place of "string".
func (e *Enum) Type() string { return strings.Join(e.Allowed, "|") }

// AddEnumFlag declares an Enum flag with completion of its values; the
// usage names the values.
func AddEnumFlag(cmd *cobra.Command, e *Enum, name, usage string) {
	if e.What == "" {
		e.What = strings.TrimPrefix(name, "--")
	}
	cmd.Flags().Var(e, name, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return e.Allowed, cobra.ShellCompDirectiveNoFileComp
	})
}

// Output formats.
const (
	FormatTable    = "table"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
	FormatText     = "text"
)

// AddFormatFlag declares --format with the formats a command supports, the
// first being the default.
func AddFormatFlag(cmd *cobra.Command, formats ...string) *Enum {
	e := NewEnum(formats[0], formats...)
	e.What = "output format"
	AddEnumFlag(cmd, e, "format", "output format")
	return e
}

// Input formats --input-format accepts ("" detects the format).
var InputFormats = []string{"tty", "plain", "rawjson", "legacy"}

// AddInputFormatFlag declares --input-format.
func AddInputFormatFlag(cmd *cobra.Command) *Enum {
	e := NewEnum("", InputFormats...)
	e.What = "input format"
	AddEnumFlag(cmd, e, "input-format", "log format, instead of detecting it")
	return e
}

// DBFlagUsage is the help of every --db flag.
const DBFlagUsage = "build history: a file (SQLite) or a postgres:// URL (default $BUILDSTATS_DB, else ~/.local/share/buildstats/history.db)"

// AddDBFlag declares --db.
func AddDBFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "db", "", DBFlagUsage)
}

// Share is a fraction given as "25%" or "0.25".
type Share float64

func (s *Share) String() string {
	if *s == 0 {
		return "0" // pflag shows no default for a zero value
	}
	return strconv.FormatFloat(float64(*s)*100, 'f', -1, 64) + "%"
}

// Set reads "25%" or "0.25".
func (s *Share) Set(v string) error {
	v = strings.TrimSpace(v)
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return fmt.Errorf("want a percentage like 25%% or a fraction like 0.25")
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 10 {
		return fmt.Errorf("%s is out of range", v)
	}
	*s = Share(f)
	return nil
}

// Type is what --help shows.
func (*Share) Type() string { return "percent" }

// AddRefScopeFlags adds --project and --all-projects to a command whose
// build references ("latest", "previous") are a project's.
func AddRefScopeFlags(cmd *cobra.Command, project *string, all *bool) {
	cmd.Flags().StringVar(project, "project", "", `project that "latest" and "previous" refer to (default: the current one)`)
	cmd.Flags().BoolVar(all, "all-projects", false, `"latest" and "previous" across every project`)
}

// DaemonFlags are the flags that say which BuildKit daemon to use, as
// buildctl and docker buildx take them. They are plain strings so this
// package needs no BuildKit client.
type DaemonFlags struct {
	Addr, Builder                             string
	TLSCACert, TLSCert, TLSKey, TLSServerName string
}

// AddDaemonFlags adds --addr, --builder and the TLS flags. addrUsage
// describes --addr, which commands with --docker also use for the Docker
// host.
func AddDaemonFlags(cmd *cobra.Command, p *DaemonFlags, addrUsage string) {
	fl := cmd.Flags()
	fl.StringVar(&p.Addr, "addr", "", addrUsage)
	fl.StringVar(&p.Builder, "builder", "", "docker buildx builder to use, by name (default $BUILDX_BUILDER when neither --addr nor $BUILDKIT_HOST is set)")
	fl.StringVar(&p.TLSCACert, "tlscacert", "", "CA certificate to verify a tcp:// daemon with")
	fl.StringVar(&p.TLSCert, "tlscert", "", "client certificate for a tcp:// daemon")
	fl.StringVar(&p.TLSKey, "tlskey", "", "client key for a tcp:// daemon")
	fl.StringVar(&p.TLSServerName, "tlsservername", "", "server name to verify (default the address's host)")
}
