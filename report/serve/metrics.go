package serve

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// metrics are what /metrics exports, counted as builds arrive. The only
// label is the project, and only a project with an ingest token can send
// builds, so the series stay few (no branch or step labels).
type metrics struct {
	reg       *prometheus.Registry
	builds    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	steps     *prometheus.CounterVec
	cacheHits *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	requests  *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "buildstats_builds_total",
			Help: "Builds stored through this server, by project."}, []string{"project"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "buildstats_build_failures_total",
			Help: "Failed builds stored through this server, by project."}, []string{"project"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "buildstats_steps_total",
			Help: "Dockerfile steps of the builds stored through this server, by project."}, []string{"project"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "buildstats_cache_hits_total",
			Help: "Dockerfile steps served from the cache in the builds stored through this server, by project."}, []string{"project"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "buildstats_build_duration_seconds",
			Help:    "Duration of the builds stored through this server whose duration the log tells, by project.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, []string{"project"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "buildstats_ingest_requests_total",
			Help: "POST /api/v1/builds requests, by status code."}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "buildstats_ingest_request_seconds",
			Help: "Time to answer POST /api/v1/builds.", Buckets: prometheus.DefBuckets}),
	}
	m.reg.MustRegister(m.builds, m.failures, m.steps, m.cacheHits, m.duration, m.requests, m.latency,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// stored counts a build that was new to the history.
func (m *metrics) stored(project string, b *model.Build) {
	m.builds.WithLabelValues(project).Inc()
	if b.Status == model.StatusFailed {
		m.failures.WithLabelValues(project).Inc()
	}
	a := store.Summarize(b)
	m.steps.WithLabelValues(project).Add(float64(a.StepsTotal))
	m.cacheHits.WithLabelValues(project).Add(float64(a.StepsCached))
	if a.DurationSource != "" {
		m.duration.WithLabelValues(project).Observe(a.Duration.Seconds())
	}
}

// request counts an ingest request.
func (m *metrics) request(code int, took time.Duration) {
	m.requests.WithLabelValues(http.StatusText(code)).Inc()
	m.latency.Observe(took.Seconds())
}
