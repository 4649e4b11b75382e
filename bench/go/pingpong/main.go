// Command pingpong is the Go twin of bench/pingpong.c: a round trip between
// two goroutines over unbuffered channels.
//
// The main goroutine starts a partner and the two bounce an int64 over two
// unbuffered channels: main sends i on ping and receives on pong, the partner
// receives v on ping and sends v+1 on pong, n times. Each reply must be i+1.
// The metric is the elapsed time divided by n: ns per round trip. A
// calibration round of 20,000 round trips picks n so that the timed round
// lasts about a second (BENCH_PINGPONG_N fixes it). GOMAXPROCS comes from the
// environment (bench/run.sh sets 1 and 2).
//
// Exit 1 when a reply is wrong.
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

func partner(ping <-chan int64, pong chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		v := <-ping
		pong <- v + 1
	}
}

func round(n int64) time.Duration {
	ping := make(chan int64)
	pong := make(chan int64)
	go partner(ping, pong, n)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		if v := <-pong; v != i+1 {
			fmt.Fprintf(os.Stderr, "pingpong: round trip %d returned %d, expected %d\n", i, v, i+1)
			os.Exit(1)
		}
	}
	return time.Since(t0)
}

func main() {
	n := envInt("BENCH_PINGPONG_N", 0)
	if n == 0 {
		const probe = 20000
		n = calibrate(probe, round(probe), 1e9, 100000, 100000000)
	}
	elapsed := round(n)
	fmt.Printf("name=pingpong impl=go metric=%.1f unit=ns/roundtrip procs=%d roundtrips=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), n)
}
