// Command timers is the Go twin of bench/timers.c: a hundred thousand
// sleeping goroutines.
//
// The main goroutine starts BENCH_TIMERS_TASKS goroutines (default 100,000);
// goroutine i sleeps d_i, drawn from 1 to BENCH_TIMERS_MAX_MS ms (default 100)
// by splitmix64 from the same fixed seed as the C benchmark, then calls Done
// on a WaitGroup that main waits on. stat=wall is the wall time from the first
// go statement until Wait returns, in ms; ideal_ms= the largest d_i;
// stat=overshoot wall minus ideal; late_max_ms= the largest lateness of one
// sleep; spawn_ms= the time of the loop of go statements. A warm-up round
// with the same durations runs first and is not timed. GOMAXPROCS comes from
// the environment (bench/run.sh sets 2).
//
// Exit 1 when a sleep returned early.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const seed = 20240601

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

// splitmix64, as in bench/timers.c.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

var early int64
var lateMax int64

func sleeper(d time.Duration, wg *sync.WaitGroup) {
	t0 := time.Now()
	time.Sleep(d)
	took := time.Since(t0)
	if took < d {
		atomic.AddInt64(&early, 1)
	} else {
		late := int64(took - d)
		for {
			seen := atomic.LoadInt64(&lateMax)
			if late <= seen || atomic.CompareAndSwapInt64(&lateMax, seen, late) {
				break
			}
		}
	}
	wg.Done()
}

func round(n, maxMs int64) (wall, spawn, ideal time.Duration) {
	state := uint64(seed)
	atomic.StoreInt64(&early, 0)
	atomic.StoreInt64(&lateMax, 0)
	var wg sync.WaitGroup
	wg.Add(int(n))
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		d := time.Duration(1+splitmix64(&state)%uint64(maxMs)) * time.Millisecond
		if d > ideal {
			ideal = d
		}
		go sleeper(d, &wg)
	}
	t1 := time.Now()
	wg.Wait()
	t2 := time.Now()
	if e := atomic.LoadInt64(&early); e != 0 {
		fmt.Fprintf(os.Stderr, "timers: %d of %d sleeps returned early\n", e, n)
		os.Exit(1)
	}
	return t2.Sub(t0), t1.Sub(t0), ideal
}

func main() {
	n := envInt("BENCH_TIMERS_TASKS", 100000)
	maxMs := envInt("BENCH_TIMERS_MAX_MS", 100)
	round(n, maxMs) // warm-up
	wall, spawn, ideal := round(n, maxMs)
	procs := runtime.GOMAXPROCS(0)
	wallMs := float64(wall.Nanoseconds()) / 1e6
	idealMs := float64(ideal.Nanoseconds()) / 1e6
	fmt.Printf("name=timers impl=go metric=%.1f unit=ms stat=wall procs=%d tasks=%d ideal_ms=%.1f late_max_ms=%.1f spawn_ms=%.1f\n",
		wallMs, procs, n, idealMs, float64(atomic.LoadInt64(&lateMax))/1e6,
		float64(spawn.Nanoseconds())/1e6)
	fmt.Printf("name=timers impl=go metric=%.1f unit=ms stat=overshoot procs=%d tasks=%d ideal_ms=%.1f\n",
		wallMs-idealMs, procs, n, idealMs)
}
