// Command skynet is the Go twin of bench/skynet.c: the skynet tree of
// goroutines talking over unbuffered channels.
//
// skynet(c, num, size, div): a leaf (size 1) sends num on c; any other node
// makes an unbuffered channel, starts div children
// skynet(rc, num+i*(size/div), size/div, div), receives div values, adds them
// up and sends the sum on c. With size 1,000,000 (BENCH_SKYNET_SIZE, which
// must be a power of 10) and div 10 that is 1,111,111 goroutines, the root
// included, and the sum must be size*(size-1)/2 (499999500000).
//
// The metric is the wall time in ms from starting the root until its sum is
// received. A warm-up tree of size/10 runs first and is not timed, as in the
// C benchmark. GOMAXPROCS comes from the environment (bench/run.sh sets 1
// and 2).
//
// Exit 1 when a sum is wrong.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const div = 10

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

func skynet(c chan int64, num, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*(size/div), size/div)
	}
	var sum int64
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// tree runs one whole tree of the given size and returns its wall time.
func tree(size int64) time.Duration {
	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, size)
	sum := <-c
	elapsed := time.Since(t0)
	if want := size * (size - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "skynet: sum is %d, expected %d (size %d)\n", sum, want, size)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	size := envInt("BENCH_SKYNET_SIZE", 1000000)
	tasks := int64(0)
	for s := size; ; s /= div {
		tasks += size / s
		if s == 1 {
			break
		}
		if s%div != 0 {
			fmt.Fprintf(os.Stderr, "skynet: BENCH_SKYNET_SIZE=%d is not a power of %d\n", size, div)
			os.Exit(2)
		}
	}
	if size >= div {
		tree(size / div)
	}
	elapsed := tree(size)
	fmt.Printf("name=skynet impl=go metric=%.1f unit=ms procs=%d size=%d tasks=%d\n",
		float64(elapsed.Nanoseconds())/1e6, runtime.GOMAXPROCS(0), size, tasks)
}
