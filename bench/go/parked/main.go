// The Go twin of bench/parked.c: a million goroutines parked on a channel,
// creation time per goroutine, peak RSS, and RSS after they are gone.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

func statusKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line[len(key):])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	n := envInt("BENCH_PARKED_TASKS", 1000000)
	settle := envInt("BENCH_PARKED_SETTLE_MS", 3000)
	procs := runtime.GOMAXPROCS(0)
	var parked, finished sync.WaitGroup
	parked.Add(n)
	finished.Add(n)
	gate := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-gate
			finished.Done()
		}()
	}
	parked.Wait()
	create := time.Since(t0)
	peak := statusKB("VmHWM:")
	close(gate)
	finished.Wait()
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(time.Duration(settle) * time.Millisecond)
	after := statusKB("VmRSS:")
	fmt.Printf("name=parked impl=go metric=%.0f unit=ns/task stat=create procs=%d tasks=%d\n",
		float64(create.Nanoseconds())/float64(n), procs, n)
	fmt.Printf("name=parked impl=go metric=%d unit=MB stat=peak_rss procs=%d tasks=%d\n", peak/1024, procs, n)
	fmt.Printf("name=parked impl=go metric=%d unit=MB stat=rss_after_release procs=%d tasks=%d\n", after/1024, procs, n)
}
