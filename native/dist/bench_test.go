package dist

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/session"
)

// BenchmarkJobRoundTrip evaluates the same cheap jobs (the demo family at
// one sample per task: a few ms each) in this process and through the
// queue with one in-process worker, one job at a time; the difference per
// job is what the queue costs (publish, pull, result in the bucket, watch).
func BenchmarkJobRoundTrip(b *testing.B) {
	dir := b.TempDir()
	ns, url, err := StartServer(ServerOptions{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	local := openSessionTB(b)
	var jobs []session.Job
	for budget := 1; budget <= 2; budget++ {
		for _, tg := range targets(local) {
			jobs = append(jobs, session.NewJob(tg, budget, -1))
		}
	}
	startWorkerTB(b, url)
	nc, js, err := Connect(context.Background(), url, ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	// Warm both sides (layer caches, the worker's first pull, the run's
	// task files) on every job once, outside the timing.
	warm, err := OpenPool(context.Background(), nc, js, local, fmt.Sprintf("warm%d", time.Now().UnixNano()), PoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, j := range jobs {
		local.Family.Run(context.Background(), j.Target, local.Specs, j.Budget)
		if _, err := warm.Run(context.Background(), j); err != nil {
			b.Fatal(err)
		}
	}
	warm.Close()
	b.ResetTimer()
	var localT, poolT time.Duration
	n := 0
	for i := 0; i < b.N; i++ {
		pool, err := OpenPool(context.Background(), nc, js, local, fmt.Sprintf("bench%d-%d", time.Now().UnixNano(), i), PoolOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, j := range jobs {
			t0 := time.Now()
			if _, err := local.Family.Run(context.Background(), j.Target, local.Specs, j.Budget); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := pool.Run(context.Background(), j); err != nil {
				b.Fatal(err)
			}
			localT += t1.Sub(t0)
			poolT += time.Since(t1)
			n++
		}
		pool.Close()
	}
	b.ReportMetric(float64(localT.Microseconds())/float64(n)/1000, "ms/job-local")
	b.ReportMetric(float64(poolT.Microseconds())/float64(n)/1000, "ms/job-queued")
	b.ReportMetric(float64((poolT-localT).Microseconds())/float64(n)/1000, "ms/job-overhead")
}
