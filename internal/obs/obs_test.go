package obs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestReadyLifecycle(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "numax_test_total", Help: "t"})
	reg.MustRegister(c)
	s, err := Listen("127.0.0.1:0", reg, time.Second, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	if got := status(t, base+"/ready"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ready before ready = %d", got)
	}
	if got := status(t, base+"/health"); got != http.StatusOK {
		t.Fatalf("/health = %d", got)
	}
	s.SetReady(true)
	if got := status(t, base+"/ready"); got != http.StatusOK {
		t.Fatalf("/ready when ready = %d", got)
	}
	s.SetReady(false) // shutting down
	if got := status(t, base+"/ready"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ready while shutting down = %d", got)
	}
	if got := status(t, base+"/metrics"); got != http.StatusOK {
		t.Fatalf("/metrics = %d", got)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(s.Addr().String(), reg, time.Second, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatalf("address not released after Close: %v", err)
	}
}
