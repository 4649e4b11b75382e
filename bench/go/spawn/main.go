// Command spawn is the Go twin of bench/spawn.c: the cost of a goroutine's
// whole life (go statement, first run, exit).
//
// The main goroutine starts N goroutines (1,000,000; BENCH_SPAWN_TASKS
// overrides), each of which increments one atomic counter and returns, then
// waits until the counter reaches N by polling it with runtime.Gosched(), as
// the C benchmark polls with go_yield(). The metric is the elapsed time from
// the first go statement until the counter is seen complete, divided by N.
// spawn_loop= is the share spent in the loop of go statements alone. A
// warm-up round of N/10 goroutines runs first and is not timed. GOMAXPROCS
// comes from the environment (bench/run.sh sets 1 and 2).
//
// Exit 1 when the counter does not end at exactly N.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

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

var counter int64

func increment() {
	atomic.AddInt64(&counter, 1)
}

// round runs n goroutines and returns the total and spawn-loop durations.
func round(n int64) (total, spawn time.Duration) {
	atomic.StoreInt64(&counter, 0)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go increment()
	}
	t1 := time.Now()
	for atomic.LoadInt64(&counter) < n {
		runtime.Gosched()
	}
	t2 := time.Now()
	if seen := atomic.LoadInt64(&counter); seen != n {
		fmt.Fprintf(os.Stderr, "spawn: counter is %d, expected %d\n", seen, n)
		os.Exit(1)
	}
	return t2.Sub(t0), t1.Sub(t0)
}

func main() {
	n := envInt("BENCH_SPAWN_TASKS", 1000000)
	warm := n / 10
	if warm < 1 {
		warm = 1
	}
	round(warm)
	total, spawn := round(n)
	fmt.Printf("name=spawn impl=go metric=%.1f unit=ns/task procs=%d tasks=%d spawn_loop=%.1f\n",
		float64(total.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), n,
		float64(spawn.Nanoseconds())/float64(n))
}
