// Command chanbuf is the Go twin of bench/chanbuf.c: streaming values through
// a buffered channel.
//
// A producer goroutine sends 0, 1, ..., n-1 through a chan int64 of capacity
// 1024 and closes it; the main goroutine ranges over the channel, checks that
// each value arrives in order, then the count and the sum. The metric is the
// elapsed time from starting the producer until the range ends, divided by n:
// ns per item. A calibration round of 200,000 items picks n so that the timed
// round lasts about a second (BENCH_CHANBUF_N fixes it). GOMAXPROCS comes from
// the environment (bench/run.sh sets 2).
//
// Exit 1 when a value, the count or the sum is wrong.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const capacity = 1024

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

func producer(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
	close(c)
}

func round(n int64) time.Duration {
	c := make(chan int64, capacity)
	t0 := time.Now()
	go producer(c, n)
	var count, sum int64
	for v := range c {
		if v != count {
			fmt.Fprintf(os.Stderr, "chanbuf: item %d is %d\n", count, v)
			os.Exit(1)
		}
		sum += v
		count++
	}
	elapsed := time.Since(t0)
	if count != n || sum != n*(n-1)/2 {
		fmt.Fprintf(os.Stderr, "chanbuf: received %d items summing to %d, expected %d summing to %d\n",
			count, sum, n, n*(n-1)/2)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	n := envInt("BENCH_CHANBUF_N", 0)
	if n == 0 {
		const probe = 200000
		n = calibrate(probe, round(probe), 1e9, 1000000, 1000000000)
	}
	elapsed := round(n)
	fmt.Printf("name=chanbuf impl=go metric=%.1f unit=ns/item procs=%d items=%d cap=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), n, capacity)
}
