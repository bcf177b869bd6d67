package sqlite

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time. The test machine is
// shared, so throughput is reported per wall second and per CPU second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
