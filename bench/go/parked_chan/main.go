// Command parked_chan is the Go twin of bench/parked_chan.c: a million
// goroutines parked in a receive on one channel; creation time per goroutine,
// peak RSS, and RSS after they are gone.
//
// Each goroutine calls Done on a "parked" WaitGroup, then receives from one
// unbuffered gate channel (chan struct{}). When the WaitGroup is done, the
// time per goroutine from the first go statement and the peak RSS (VmHWM) are
// taken; then the gate is closed (every receive must report it closed), main
// waits on a "finished" WaitGroup, runs runtime.GC and debug.FreeOSMemory,
// sleeps BENCH_PARKED_SETTLE_MS (default 3000) and reads VmRSS. Size:
// BENCH_PARKED_TASKS (default 1,000,000). GOMAXPROCS comes from the
// environment (bench/run.sh sets 2).
//
// Exit 1 when a receive does not report the gate closed.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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

func statusKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			if f := strings.Fields(line[len(key):]); len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

func main() {
	n := envInt("BENCH_PARKED_TASKS", 1000000)
	settle := envInt("BENCH_PARKED_SETTLE_MS", 3000)
	procs := runtime.GOMAXPROCS(0)
	var parked, finished sync.WaitGroup
	var wrong int64
	parked.Add(int(n))
	finished.Add(int(n))
	gate := make(chan struct{})
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			parked.Done()
			if _, ok := <-gate; ok {
				atomic.AddInt64(&wrong, 1)
			}
			finished.Done()
		}()
	}
	parked.Wait()
	create := time.Since(t0)
	peak := statusKB("VmHWM:")
	close(gate)
	finished.Wait()
	if w := atomic.LoadInt64(&wrong); w != 0 {
		fmt.Fprintf(os.Stderr, "parked_chan: %d of %d receives on the closed gate did not report it closed\n", w, n)
		os.Exit(1)
	}
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(time.Duration(settle) * time.Millisecond)
	after := statusKB("VmRSS:")
	fmt.Printf("name=parked_chan impl=go metric=%.0f unit=ns/task stat=create procs=%d tasks=%d\n",
		float64(create.Nanoseconds())/float64(n), procs, n)
	fmt.Printf("name=parked_chan impl=go metric=%d unit=MB stat=peak_rss procs=%d tasks=%d\n", peak/1024, procs, n)
	fmt.Printf("name=parked_chan impl=go metric=%d unit=MB stat=rss_after_release procs=%d tasks=%d\n", after/1024, procs, n)
}
