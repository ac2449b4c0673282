package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/transport"
)

// cluster3 is three replicas in one process linked by real transports over
// 127.0.0.1 (TLS or plain), each with its own datastore.
type cluster3 struct {
	reps []*replica.Replica
	trs  []*transport.Transport
	// lag records write-to-apply delays: written[origin][seq] is the write
	// time, lags the delays seen on other nodes.
	mu      sync.Mutex
	written map[string]map[uint64]time.Time
	lags    []time.Duration
}

func newCluster3(b *testing.B, useTLS bool) *cluster3 {
	b.Helper()
	c := &cluster3{written: map[string]map[uint64]time.Time{}}
	var ids []*transport.Identity
	if useTLS {
		dir := b.TempDir()
		ca, _ := transport.NewCA("bench", time.Hour)
		os.WriteFile(filepath.Join(dir, "ca.crt"), ca.Cert, 0o600)
		for i := 0; i < 3; i++ {
			p, _, _ := transport.NewNodeCert(ca, "n", time.Hour)
			cf, kf := filepath.Join(dir, fmt.Sprint(i, ".crt")), filepath.Join(dir, fmt.Sprint(i, ".key"))
			os.WriteFile(cf, p.Cert, 0o600)
			os.WriteFile(kf, p.Key, 0o600)
			id, err := transport.LoadIdentity(cf, kf, filepath.Join(dir, "ca.crt"))
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	var addrs []string
	for i := 0; i < 3; i++ {
		st, err := store.Open(store.DefaultConfig(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		tc := transport.DefaultConfig()
		tc.Listen, tc.Peers = "127.0.0.1:0", slices.Clone(addrs)
		tc.NodeID = replica.NewNodeID()
		if useTLS {
			tc.TLS, tc.NodeID = ids[i], ids[i].NodeID
		}
		tr, err := transport.New(tc)
		if err != nil {
			b.Fatal(err)
		}
		self := tc.NodeID
		r, err := replica.Open(replica.Config{Store: st, NodeID: tc.NodeID, Transport: tr, QueueLimit: 1 << 20,
			AntiEntropyInterval: time.Second,
			OnRemoteApply: func(ops []*crdt.Op) {
				now := time.Now()
				c.mu.Lock()
				for _, op := range ops {
					if w, ok := c.written[op.Origin][op.Seq]; ok && op.Origin != self {
						c.lags = append(c.lags, now.Sub(w))
					}
				}
				c.mu.Unlock()
			}})
		if err != nil {
			b.Fatal(err)
		}
		tr.Start(r)
		c.reps, c.trs = append(c.reps, r), append(c.trs, tr)
		addrs = append(addrs, tr.Addr().String())
		b.Cleanup(func() { r.Close(context.Background()); tr.Close(); st.Close() })
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(c.trs[0].Peers()) < 2 || len(c.trs[1].Peers()) < 2 || len(c.trs[2].Peers()) < 2 {
		if time.Now().After(deadline) {
			b.Fatal("mesh did not form")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

func (c *cluster3) converged() bool {
	d := c.reps[0].Digest()
	return bytes.Equal(d, c.reps[1].Digest()) && bytes.Equal(d, c.reps[2].Digest())
}

func (c *cluster3) write(b *testing.B, i int, track bool) {
	start := time.Now()
	id, err := c.reps[i].Write(context.Background(), &crdt.Op{Kind: crdt.GCounterInc, Key: "k", Delta: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if track {
		c.mu.Lock()
		m := c.written[id.Origin]
		if m == nil {
			m = map[uint64]time.Time{}
			c.written[id.Origin] = m
		}
		m[id.Seq] = start
		c.mu.Unlock()
	}
}

// BenchmarkSync3Throughput: each of 3 nodes writes as fast as it can; the
// figure is ops per node per second until every node holds every op.
func BenchmarkSync3Throughput(b *testing.B) {
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			c := newCluster3(b, mode == "tls")
			per := 50_000
			start := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < 3; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; n < per; n++ {
						c.write(b, i, false)
					}
				}()
			}
			wg.Wait()
			wrote := time.Since(start)
			for !c.converged() {
				if time.Since(start) > 2*time.Minute {
					b.Fatal("no convergence in 2 minutes")
				}
				time.Sleep(time.Millisecond)
			}
			total := time.Since(start)
			out, _ := c.trs[0].Bytes()
			b.ReportMetric(float64(per)/total.Seconds(), "ops/s/node")
			b.ReportMetric(float64(per)/wrote.Seconds(), "write-ops/s/node")
			b.ReportMetric(float64(out)/float64(per*2), "wire-bytes/op")
		})
	}
}

// BenchmarkSync3Lag: each node writes at a fixed 10k ops/s for 3 s; the
// figures are write-to-apply delays on the other nodes.
func BenchmarkSync3Lag(b *testing.B) {
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			c := newCluster3(b, mode == "tls")
			const rate, dur = 10_000, 3 * time.Second
			var wg sync.WaitGroup
			for i := 0; i < 3; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					for n := 0; n < rate*int(dur/time.Second); n++ {
						// Pace to the rate: sleep until this op's slot.
						if d := time.Until(start.Add(time.Duration(n) * time.Second / rate)); d > 0 {
							time.Sleep(d)
						}
						c.write(b, i, true)
					}
				}()
			}
			wg.Wait()
			for !c.converged() {
				time.Sleep(time.Millisecond)
			}
			c.mu.Lock()
			lags := slices.Clone(c.lags)
			c.mu.Unlock()
			slices.Sort(lags)
			pct := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
			b.ReportMetric(pct(0.50), "lag-p50-ms")
			b.ReportMetric(pct(0.99), "lag-p99-ms")
			b.ReportMetric(pct(1.0), "lag-max-ms")
			b.ReportMetric(float64(len(lags)), "samples")
		})
	}
}
