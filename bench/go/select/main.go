// Command select is the Go twin of bench/select.c: a round trip between two
// goroutines that wait in a two-case select.
//
// The main goroutine sends i on a2b, then selects over { <-b2a, <-quit } and
// must get i+1; the partner selects over { <-a2b, <-quit } and answers v+1 on
// b2a. All channels are unbuffered. After n round trips main closes quit; the
// partner's select then takes the quit case and the partner reports how many
// round trips it served on done. The metric is the elapsed time of the n
// round trips divided by n: ns per round trip. A calibration round of 20,000
// round trips picks n so that the timed round lasts about a second
// (BENCH_SELECT_N fixes it). GOMAXPROCS comes from the environment
// (bench/run.sh sets 1 and 2).
//
// Exit 1 when a reply or the partner's count is wrong.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
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

func partner(in <-chan int64, out chan<- int64, quit <-chan struct{}, done chan<- int64) {
	var served int64
	for {
		select {
		case v := <-in:
			out <- v + 1
			served++
		case <-quit:
			done <- served
			return
		}
	}
}

func round(n int64) time.Duration {
	a2b := make(chan int64)
	b2a := make(chan int64)
	quit := make(chan struct{})
	done := make(chan int64)
	go partner(a2b, b2a, quit, done)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		a2b <- i
		select {
		case v := <-b2a:
			if v != i+1 {
				fmt.Fprintf(os.Stderr, "select: round trip %d returned %d, expected %d\n", i, v, i+1)
				os.Exit(1)
			}
		case <-quit:
			fmt.Fprintf(os.Stderr, "select: round trip %d: the quit case, which is not closed yet\n", i)
			os.Exit(1)
		}
	}
	elapsed := time.Since(t0)
	close(quit)
	if served := <-done; served != n {
		fmt.Fprintf(os.Stderr, "select: the partner served %d round trips, expected %d\n", served, n)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	n := envInt("BENCH_SELECT_N", 0)
	if n == 0 {
		const probe = 20000
		n = calibrate(probe, round(probe), 1e9, 100000, 100000000)
	}
	elapsed := round(n)
	fmt.Printf("name=select impl=go metric=%.1f unit=ns/roundtrip procs=%d roundtrips=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), n)
}
