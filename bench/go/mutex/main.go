// Command mutex is the Go twin of bench/mutex.c: a contended sync.Mutex.
//
// The main goroutine starts 4 goroutines that each do m times: Lock,
// increment a shared counter, Unlock; then waits for them on a
// sync.WaitGroup. With GOMAXPROCS=2 (bench/run.sh sets it) two at a time
// really contend. The counter must end at 4m. The metric is the elapsed time
// from the first go statement until Wait returns, divided by the 4m pairs: ns
// per lock/unlock pair. A calibration round of 50,000 pairs per goroutine
// picks m so that the timed round lasts about a second (BENCH_MUTEX_M fixes
// it).
//
// Exit 1 when the counter is wrong.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const tasks = 4

func envInt(name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bench: ignoring %s=%s (want a positive integer)\n", name, s)
		return def
	}
	return v
}

// calibrate mirrors bench_calibrate in bench/bench.h.
func calibrate(probeN int64, probe time.Duration, target float64, lo, hi int64) int64 {
	per := float64(probe.Nanoseconds()) / float64(probeN)
	if per < 1 {
		per = 1
	}
	n := target / per
	if n < float64(lo) {
		return lo
	}
	if n > float64(hi) {
		return hi
	}
	return int64(n)
}

var (
	mu      sync.Mutex
	counter int64 // under mu
)

func round(m int64) time.Duration {
	counter = 0
	var wg sync.WaitGroup
	wg.Add(tasks)
	t0 := time.Now()
	for i := 0; i < tasks; i++ {
		go func() {
			for j := int64(0); j < m; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	mu.Lock()
	seen := counter
	mu.Unlock()
	if seen != tasks*m {
		fmt.Fprintf(os.Stderr, "mutex: counter is %d, expected %d\n", seen, tasks*m)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	m := envInt("BENCH_MUTEX_M", 0)
	if m == 0 {
		const probe = 50000
		m = calibrate(tasks*probe, round(probe), 1e9, tasks*250000, tasks*250000000) / tasks
	}
	elapsed := round(m)
	locks := tasks * m
	fmt.Printf("name=mutex impl=go metric=%.1f unit=ns/lock procs=%d tasks=%d locks=%d\n",
		float64(elapsed.Nanoseconds())/float64(locks), runtime.GOMAXPROCS(0), tasks, locks)
}
