// Package collect records builds live, as they run, instead of parsing their
// logs afterwards: the live status stream has what text logs lose (full
// vertex names, absolute start and end times, the vertex graph).
//
// The BuildKit and Docker Engine clients are heavy, so they live in the
// subpackages buildkit and docker; this package holds only what a caller
// such as the CLI tests errors against, so importing it costs nothing.
package collect

import "errors"

// Errors the collectors wrap, for errors.Is.
var (
	// ErrDaemonUnavailable: the BuildKit or Docker daemon did not answer
	// before the build started. Nothing ran and nothing was recorded. The
	// CLI maps it to exit status 2.
	ErrDaemonUnavailable = errors.New("build daemon not reachable")

	// ErrDaemonLost: the daemon went away while the build ran (killed,
	// restarted, connection cut). The stream is incomplete, so no record is
	// returned: a half build would skew every statistic it enters.
	ErrDaemonLost = errors.New("lost the build daemon mid-build")
)
