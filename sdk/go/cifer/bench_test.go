package cifer

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var benchCifer struct {
	once sync.Once
	cif  *Cifer
	err  error
}

// BenchmarkEncrypt1KiB16Goroutines: Client.Encrypt of 1 KiB (the JSON API) from 16 goroutines
// sharing one Client, through the sidecar at CIFER_PROXY_URL; reports requests per second as
// "rps". CIFER_BENCH_CIFER_ID names the CIFER to encrypt to (else one is made).
// sdk/go/bench/compare.py runs it beside the Python SDK on the same workload.
func BenchmarkEncrypt1KiB16Goroutines(b *testing.B) {
	const goroutines = 16
	c := live(b)
	ctx := context.Background()
	id := os.Getenv("CIFER_BENCH_CIFER_ID")
	if id == "" { // the benchmark function runs several times: one CIFER for all (creates are limited)
		benchCifer.once.Do(func() {
			benchCifer.cif, benchCifer.err = c.Cifers.Create(ctx, &CreateParams{Name: "go-bench"})
		})
		if benchCifer.err != nil {
			b.Fatal(benchCifer.err)
		}
		id = benchCifer.cif.ID
	}
	plain := make([]byte, 1024)
	if _, err := c.Encrypt(ctx, id, plain); err != nil { // the sidecar caches the public key
		b.Fatal(err)
	}
	var next int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= int64(b.N) {
				if _, err := c.Encrypt(ctx, id, plain); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rps")
}
