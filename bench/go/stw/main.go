// Command stw is the Go twin of bench/stw.c. Go has no user-visible
// stop-the-world, so it measures the stop-the-world pauses of forced
// collections: runtime.GC() is called 10,000 times (BENCH_STW_CYCLES
// overrides) and each cycle's pause is read from MemStats.PauseNs, which sums
// the cycle's two stop-the-world phases (sweep termination and mark
// termination). Between two cycles the main goroutine spins for about 20 us,
// then yields, as the C requester does. Automatic collections are turned off
// (debug.SetGCPercent(-1)) so that only our cycles are counted; 50 warm-up
// cycles precede each scenario.
//
// Scenarios, under GOMAXPROCS=2 (bench/run.sh sets it):
//
//	idle  the main goroutine is the only one.
//	busy  4 spinner goroutines keep both Ps running: each spins for about
//	      10 us in a loop of calls, then runtime.Gosched().
//
// It prints p50, p99 and max of the pauses per scenario:
//
//	name=stw impl=go metric=<ns> unit=ns stat=pause_p50 scenario=busy procs=2
//
// Go 1.19 exposes no time-to-safepoint, so there are no tts_ lines.
//
// Exit 1 when a cycle's pause cannot be read (more cycles ran than the
// PauseNs ring can hold between two reads).
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	spinners        = 4
	warmupCycles    = 50
	requesterSpinNs = 20000
	spinnerSpinNs   = 10000
	readEvery       = 128 // < 256, the size of the MemStats.PauseNs ring
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

var sink int64 // keeps the spin loop's work alive

//go:noinline
func work(i int64) int64 { return i*2654435761 + 1 }

// spinFor spins for about d, making calls (preemption points) all along.
func spinFor(d time.Duration) int64 {
	var spins, acc int64
	start := time.Now()
	for time.Since(start) < d {
		for k := 0; k < 16; k++ {
			acc += work(spins)
			spins++
		}
	}
	atomic.AddInt64(&sink, acc)
	return spins
}

var stop, done int32
var spins int64

func spinner() {
	var n int64
	for atomic.LoadInt32(&stop) == 0 {
		n += spinFor(spinnerSpinNs)
		runtime.Gosched()
	}
	atomic.AddInt64(&spins, n)
	atomic.AddInt32(&done, 1)
}

// cycles forces n collections and returns the pause of each, plus the number
// of cycles counted beyond ours.
func cycles(n int) (pauses []uint64, other uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	last := ms.NumGC // the last cycle whose pause was taken
	forced := 0
	collect := func() {
		runtime.ReadMemStats(&ms)
		if ms.NumGC-last > 256 {
			fmt.Fprintf(os.Stderr, "stw: %d cycles between two reads, PauseNs holds 256\n",
				ms.NumGC-last)
			os.Exit(1)
		}
		for c := last + 1; c <= ms.NumGC; c++ {
			pauses = append(pauses, ms.PauseNs[(c+255)%256])
		}
		last = ms.NumGC
	}
	for i := 0; i < n; i++ {
		runtime.GC()
		forced++
		if forced%readEvery == 0 {
			collect()
		}
		spinFor(requesterSpinNs)
		runtime.Gosched()
	}
	collect()
	if uint64(len(pauses)) > uint64(n) {
		other = uint64(len(pauses) - n)
	}
	if len(pauses) < n {
		fmt.Fprintf(os.Stderr, "stw: %d cycles forced, only %d counted\n", n, len(pauses))
		os.Exit(1)
	}
	return pauses, other
}

func scenario(name string, nspin int, n int) {
	atomic.StoreInt32(&stop, 0)
	atomic.StoreInt32(&done, 0)
	atomic.StoreInt64(&spins, 0)
	for i := 0; i < nspin; i++ {
		go spinner()
	}
	cycles(warmupCycles)
	pauses, other := cycles(n)
	atomic.StoreInt32(&stop, 1)
	for atomic.LoadInt32(&done) < int32(nspin) {
		runtime.Gosched()
	}
	if nspin > 0 && atomic.LoadInt64(&spins) == 0 {
		fmt.Fprintf(os.Stderr, "stw: scenario %s: the spinners never ran\n", name)
		os.Exit(1)
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	p50 := pauses[(len(pauses)-1)/2]
	p99 := pauses[(len(pauses)*99+99)/100-1] // nearest rank
	max := pauses[len(pauses)-1]
	procs := runtime.GOMAXPROCS(0)
	for _, s := range []struct {
		stat string
		v    uint64
	}{{"pause_p50", p50}, {"pause_p99", p99}, {"pause_max", max}} {
		fmt.Printf("name=stw impl=go metric=%d unit=ns stat=%s scenario=%s procs=%d pauses=%d other=%d\n",
			s.v, s.stat, name, procs, len(pauses), other)
	}
}

func main() {
	debug.SetGCPercent(-1)
	n := int(envInt("BENCH_STW_CYCLES", 10000))
	scenario("busy", spinners, n)
	scenario("idle", 0, n)
}
