// Command yield is the Go twin of bench/yield.c: the cost of one switch
// through runtime.Gosched().
//
// Two goroutines yield to each other under GOMAXPROCS=1 (bench/run.sh sets
// it): the main goroutine starts a partner and both call runtime.Gosched() n
// times. The metric is the elapsed time divided by the yields of both (2n):
// ns per switch. A calibration round picks n so that the measured round takes
// about a second (BENCH_YIELD_ROUNDS=<n per goroutine> fixes it). noswitch=
// counts the yields after which the other goroutine had not run (0 when they
// strictly alternate).
//
// Exit 1 when the iteration counts do not add up.
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

// Each count is written by its own goroutine and read by the other.
var mainCount, partnerCount int64
var partnerStarted, partnerDone int32
var noswitch int64

func yieldLoop(n int64, mine, other *int64, otherDone *int32) {
	var missed int64
	for i := int64(0); i < n; i++ {
		atomic.StoreInt64(mine, i+1)
		before := atomic.LoadInt64(other)
		runtime.Gosched()
		if atomic.LoadInt64(other) == before &&
			(otherDone == nil || atomic.LoadInt32(otherDone) == 0) {
			missed++
		}
	}
	atomic.AddInt64(&noswitch, missed)
}

func round(n int64) time.Duration {
	atomic.StoreInt64(&mainCount, 0)
	atomic.StoreInt64(&partnerCount, 0)
	atomic.StoreInt32(&partnerStarted, 0)
	atomic.StoreInt32(&partnerDone, 0)
	atomic.StoreInt64(&noswitch, 0)
	go func() {
		atomic.StoreInt32(&partnerStarted, 1)
		yieldLoop(n, &partnerCount, &mainCount, nil)
		atomic.StoreInt32(&partnerDone, 1)
	}()
	for atomic.LoadInt32(&partnerStarted) == 0 {
		runtime.Gosched()
	}
	t0 := time.Now()
	yieldLoop(n, &mainCount, &partnerCount, &partnerDone)
	for atomic.LoadInt32(&partnerDone) == 0 {
		runtime.Gosched()
	}
	elapsed := time.Since(t0)
	if atomic.LoadInt64(&mainCount) != n || atomic.LoadInt64(&partnerCount) != n {
		fmt.Fprintf(os.Stderr, "yield: counts %d and %d, expected %d each\n",
			atomic.LoadInt64(&mainCount), atomic.LoadInt64(&partnerCount), n)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	n := envInt("BENCH_YIELD_ROUNDS", 0)
	if n == 0 {
		const probe = 200000
		perSwitch := float64(round(probe).Nanoseconds()) / (2 * probe)
		if perSwitch < 1 {
			perSwitch = 1
		}
		n = int64(1e9 / (2 * perSwitch))
		if n < 1000000 {
			n = 1000000
		}
		if n > 500000000 {
			n = 500000000
		}
	}
	elapsed := round(n)
	switches := 2 * n
	fmt.Printf("name=yield impl=go metric=%.1f unit=ns/switch procs=%d switches=%d noswitch=%d\n",
		float64(elapsed.Nanoseconds())/float64(switches), runtime.GOMAXPROCS(0), switches,
		atomic.LoadInt64(&noswitch))
}
