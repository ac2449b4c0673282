package serve

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the serving metrics of docs/serving.md.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     prometheus.Histogram
	handlerCalls *prometheus.CounterVec
	published    prometheus.Counter
	queued       atomic.Int64
	// byCode and byCall cache the labelled counters (a label lookup per
	// request shows in profiles).
	byCode sync.Map // int -> prometheus.Counter
	byCall sync.Map // [2]string -> prometheus.Counter
}

func (m *metrics) request(code int) {
	c, ok := m.byCode.Load(code)
	if !ok {
		c, _ = m.byCode.LoadOrStore(code, m.requests.WithLabelValues(strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

func (m *metrics) handlerCall(handler, result string) {
	k := [2]string{handler, result}
	c, ok := m.byCall.Load(k)
	if !ok {
		c, _ = m.byCall.LoadOrStore(k, m.handlerCalls.WithLabelValues(handler, result))
	}
	c.(prometheus.Counter).Inc()
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "numax_http_requests_total",
			Help: "HTTP requests served, by status code."}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "numax_http_request_duration_seconds",
			Help: "HTTP request duration (event streams excluded).", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		handlerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "numax_handler_calls_total",
			Help: "Service handler calls, by handler and result (ok, error, timeout)."}, []string{"handler", "result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "numax_events_published_total",
			Help: "Guest events published to /_nx/events."}),
	}
	if reg == nil {
		return m
	}
	instances := prometheus.NewDesc("numax_instances", "Guest instances of the service, by state.", []string{"state"}, nil)
	reg.MustRegister(m.requests, m.duration, m.handlerCalls, m.published,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "numax_request_queue_depth", Help: "Requests waiting for an instance."},
			func() float64 { return float64(m.queued.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "numax_sse_clients", Help: "Open /_nx/events streams."},
			func() float64 { return float64(s.sseClients.Load()) }),
		&funcCollector{desc: instances, collect: func(ch chan<- prometheus.Metric) {
			busy := s.pool.busy.Load()
			ch <- prometheus.MustNewConstMetric(instances, prometheus.GaugeValue, float64(len(s.pool.idle)), "idle")
			ch <- prometheus.MustNewConstMetric(instances, prometheus.GaugeValue, float64(busy), "busy")
		}},
	)
	return m
}

type funcCollector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
