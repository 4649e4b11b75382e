#!/usr/bin/env bash
# bench/run.sh - run the gort benchmarks beside their Go twins and compare.
#
# Usage: bench/run.sh [spawn] [yield] [stw] [parked] [binarytrees] [alloc] [pause]
#                     [skynet] [pingpong] [chanbuf] [select] [mutex] [timers]
#                     [parked_chan]
#        (default: all fourteen)
#
# Expects the C benchmarks already built in $BUILD_DIR/bench (default
# build/release; `make bench` builds the release preset first). Builds the Go
# twins from bench/go/<name> into $BUILD_DIR/bench/go/ (GOPATH mode, standard
# library only, caches under $BUILD_DIR). The collector benchmarks
# (binarytrees, alloc, pause) also have Boehm-GC twins, built by CMake into
# $BUILD_DIR/bench/boehm/<name> when libgc-dev was found; when they are
# missing the script says so and leaves the boehm column out. Then, for each
# benchmark and worker count, runs gort, Go (and Boehm), BENCH_REPS times
# (default 5), prints every result line (with rep=<k> appended), and finally
# one summary line per pair made from the MEDIAN of the repetitions, for
# example
#   name=spawn procs=2 ratio=gort/go=0.43 gort=115 go=268 unit=ns/task target=<=0.5 verdict=met reps=5
#   name=alloc size=16 procs=2 ratio=gort/go=0.80 ratio=gort/boehm=0.70 gort=20 go=25 boehm=28.6 unit=ns/object target=<=go verdict=met reps=5
# The whole output is also kept in $BUILD_DIR/bench/last-run.txt.
#
# Figures are never judged pass/fail: verdict= only says whether a target is
# met. The script exits 1 only when a benchmark reported a wrong result (it
# exits non-zero itself) or hung (see BENCH_TIMEOUT), and 2 on a usage or
# build problem.
#
# Environment: BUILD_DIR, BENCH_REPS, BENCH_TIMEOUT (seconds per run, default
# 600: a run still going then is killed and reported as failed),
# BENCH_PARKED_REPS (default 3),
# BENCH_PAUSE_REPS (default 3), and the benchmarks' own knobs
# (BENCH_PARKED_TASKS, BENCH_PARKED_SETTLE_MS, BENCH_SPAWN_TASKS,
# BENCH_YIELD_ROUNDS, BENCH_STW_PAUSES, BENCH_STW_CYCLES,
# BENCH_BINARYTREES_DEPTH, BENCH_ALLOC_N, BENCH_PAUSE_MB, BENCH_PAUSE_CYCLES,
# BENCH_PAUSE_PARKED, BENCH_PAUSE_GAP_MS, BENCH_PAUSE_BOEHM_THREADS,
# BENCH_BOEHM_INTERIOR, BENCH_SKYNET_SIZE, BENCH_PINGPONG_N, BENCH_CHANBUF_N,
# BENCH_SELECT_N, BENCH_MUTEX_M, BENCH_TIMERS_TASKS, BENCH_TIMERS_MAX_MS;
# parked_chan uses BENCH_PARKED_TASKS, BENCH_PARKED_SETTLE_MS and
# BENCH_PARKED_REPS as parked does).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
BUILD_DIR=${BUILD_DIR:-$root/build/release}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
BENCH_REPS=${BENCH_REPS:-5}
# A run that has not finished after this many seconds is a hang: it is killed
# and reported as a failure, and the other runs go on.
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
all="spawn yield stw parked binarytrees alloc pause skynet pingpong chanbuf select mutex timers parked_chan"
# The collector benchmarks, which have Boehm-GC twins besides the Go ones.
with_boehm="binarytrees alloc pause"

die() {
    echo "bench/run.sh: $*" >&2
    exit 2
}

case $BENCH_REPS in
    '' | *[!0-9]* | 0) die "BENCH_REPS must be a positive integer, not '$BENCH_REPS'" ;;
esac
case $BENCH_TIMEOUT in
    '' | *[!0-9]* | 0) die "BENCH_TIMEOUT must be a positive integer (seconds), not '$BENCH_TIMEOUT'" ;;
esac

selected=()
for arg in "$@"; do
    case " $all " in
        *" $arg "*) selected+=("$arg") ;;
        *) die "unknown benchmark '$arg' (known: $all)" ;;
    esac
done
[ ${#selected[@]} -gt 0 ] || read -r -a selected <<<"$all"

# Worker counts each benchmark runs with (GORT_MAXPROCS for gort, GOMAXPROCS
# for Go).
procs_of() {
    case $1 in
        spawn) echo "1 2" ;;
        yield) echo "1" ;;
        stw) echo "2" ;;
        parked) echo "2" ;;
        skynet | pingpong | select) echo "1 2" ;;
        chanbuf | mutex | timers | parked_chan) echo "2" ;;
        binarytrees | alloc | pause) echo "2" ;;
    esac
}

bin_dir=$BUILD_DIR/bench
go_dir=$bin_dir/go
boehm_dir=$bin_dir/boehm
for name in "${selected[@]}"; do
    [ -x "$bin_dir/bench_$name" ] ||
        die "$bin_dir/bench_$name not found: build the release preset with GORT_BENCH=ON first (make bench), or set BUILD_DIR"
done

command -v go >/dev/null 2>&1 || die "go not found (Debian: apt-get install golang-go)"
mkdir -p "$go_dir" || die "cannot create $go_dir"
for name in "${selected[@]}"; do
    (cd "$root" &&
        env GO111MODULE=off GOFLAGS= GOCACHE="$BUILD_DIR/go-cache" GOPATH="$BUILD_DIR/go-path" \
            go build -o "$go_dir/$name" "./bench/go/$name") ||
        die "go build of bench/go/$name failed"
done

# The Boehm-GC twins: run those that were built, say which were not.
boehm_names=" "
boehm_notes=()
for name in "${selected[@]}"; do
    case " $with_boehm " in *" $name "*) ;; *) continue ;; esac
    if [ -x "$boehm_dir/$name" ]; then
        boehm_names+="$name "
    else
        boehm_notes+=("# WARNING: no Boehm-GC twin $boehm_dir/$name (libgc-dev, pkg-config bdw-gc, was not found when CMake configured $BUILD_DIR; scripts/deps.sh bench installs it, then reconfigure): skipping the boehm column of $name")
    fi
done

results=$(mktemp "${TMPDIR:-/tmp}/gort-bench.XXXXXX") || die "mktemp failed"
trap 'rm -f "$results"' EXIT

# run_one IMPL NAME PROCS REP: runs one binary, prints its result lines with
# rep= appended and keeps them for the summary.
run_one() {
    local impl=$1 name=$2 procs=$3 rep=$4 out rc
    case $impl in
        gort) out=$(env GORT_MAXPROCS="$procs" timeout -k 10 "$BENCH_TIMEOUT" "$bin_dir/bench_$name") ;;
        go) out=$(env GOMAXPROCS="$procs" timeout -k 10 "$BENCH_TIMEOUT" "$go_dir/$name") ;;
        # Boehm's worker count is its number of marker threads.
        boehm) out=$(env GC_MARKERS="$procs" timeout -k 10 "$BENCH_TIMEOUT" "$boehm_dir/$name") ;;
    esac
    rc=$?
    if [ $rc -ne 0 ]; then
        if [ $rc -eq 124 ]; then
            echo "# FAILED: impl=$impl name=$name procs=$procs rep=$rep exit=$rc (no result after BENCH_TIMEOUT=${BENCH_TIMEOUT}s: a hang, killed)"
        elif [ $rc -gt 128 ]; then
            echo "# FAILED: impl=$impl name=$name procs=$procs rep=$rep exit=$rc (killed by signal $((rc - 128)): a crash, or the BENCH_TIMEOUT watchdog)"
        else
            echo "# FAILED: impl=$impl name=$name procs=$procs rep=$rep exit=$rc (a wrong result: see stderr above)"
        fi
    fi
    printf '%s\n' "$out" | grep '^name=' | sed "s/\$/ rep=$rep/" | while IFS= read -r line; do
        printf '%s\n' "$line"
        case " $line " in
            *" procs=$procs "*) ;;
            *) echo "# WARNING: impl=$impl name=$name was asked for $procs workers but reports another count" ;;
        esac
        # The summary groups by the worker count asked for.
        printf '%s asked_procs=%s\n' "$line" "$procs" >>"$results"
    done
}

{
    libgc=
    [ "$boehm_names" != " " ] && libgc=" libgc=$(pkg-config --modversion bdw-gc 2>/dev/null || echo unknown)"
    echo "# gort benchmarks: $(date -u '+%Y-%m-%dT%H:%M:%SZ') reps=$BENCH_REPS cpus=$(nproc) $(uname -sr) $(go version | cut -d' ' -f3)$libgc loadavg=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)"
    echo "# each pair runs gort then Go (then Boehm-GC for the collector benchmarks), $BENCH_REPS times; summary lines use the median of the repetitions"
    for note in ${boehm_notes[@]+"${boehm_notes[@]}"}; do
        echo "$note"
    done
    for name in "${selected[@]}"; do
        for procs in $(procs_of "$name"); do
            reps=$BENCH_REPS
            # A million parked tasks take about 25 s per run on each side;
            # building 512 MB of nodes about 8 s.
            [ "$name" = parked ] && reps=${BENCH_PARKED_REPS:-3}
            [ "$name" = parked_chan ] && reps=${BENCH_PARKED_REPS:-3}
            [ "$name" = pause ] && reps=${BENCH_PAUSE_REPS:-3}
            for rep in $(seq 1 "$reps"); do
                run_one gort "$name" "$procs" "$rep"
                run_one go "$name" "$procs" "$rep"
                case "$boehm_names" in
                    *" $name "*) run_one boehm "$name" "$procs" "$rep" ;;
                esac
            done
        done
    done

    echo "# summary (medians of $BENCH_REPS runs, parked: ${BENCH_PARKED_REPS:-3}, pause: ${BENCH_PAUSE_REPS:-3}; targets: spawn <= 0.5x Go, yield <= 0.25x Go, stw pause p50 < 20000 ns, max < 200000 ns, parked create <= 0.5x Go, peak RSS <= 2x Go, binarytrees time < Go and < Boehm, peak RSS <= 1.5x Go, alloc <= Go, pause max and p50 <= Boehm, skynet and pingpong <= 0.5x Go, chanbuf, select, mutex and timers wall time <= Go, parked_chan peak RSS <= 2x Go)"
    awk '
    # One figure per worker count, judged by its ratio to Go.
    BEGIN {
        simple_limit["spawn"] = 0.5; simple_limit["yield"] = 0.25
        simple_limit["skynet"] = 0.5; simple_limit["pingpong"] = 0.5
        simple_limit["chanbuf"] = 1; simple_limit["select"] = 1; simple_limit["mutex"] = 1
    }
    function num(v) { return (v == int(v)) ? sprintf("%d", v) : sprintf("%.1f", v) }
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) {
            t = a[i] + 0
            for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
        if (n == 0) return ""
        if (n % 2) return a[(n + 1) / 2] + 0
        return (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function worst(list,    a, n, i, m) {
        n = split(list, a, " ")
        m = a[1] + 0
        for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0
        return m
    }
    {
        delete kv
        for (i = 1; i <= NF; i++) {
            p = index($i, "=")
            if (p > 0) kv[substr($i, 1, p - 1)] = substr($i, p + 1)
        }
        g = kv["name"] SUBSEP kv["asked_procs"] SUBSEP kv["stat"] SUBSEP kv["scenario"] SUBSEP kv["size"]
        if (!(g in seen)) { seen[g] = 1; order[++ngroups] = g }
        v[g, kv["impl"]] = v[g, kv["impl"]] " " kv["metric"]
        unit[g] = kv["unit"]
        count[g, kv["impl"]]++
        # The size of the run, said again in the summary.
        if (kv["depth"] != "") depth[g] = kv["depth"]
        if (kv["live_mb"] != "") live_mb[g] = kv["live_mb"]
        if (kv["ideal_ms"] != "") ideal_ms[g] = kv["ideal_ms"]
    }
    # "ratio=gort/<other>=x.xx" (two significant digits below 0.1: pause
    # ratios can be tiny), or "=n/a" when either side is missing.
    function ratio_of(gort, other, name,    r) {
        if (gort == "" || other == "" || other == 0) return "ratio=gort/" name "=n/a"
        r = gort / other
        return sprintf((r < 0.1 && r > 0) ? "ratio=gort/%s=%.2g" : "ratio=gort/%s=%.2f", name, r)
    }
    END {
        for (k = 1; k <= ngroups; k++) {
            g = order[k]
            split(g, f, SUBSEP)
            name = f[1]; procs = f[2]; stat = f[3]; scen = f[4]
            gort = median(v[g, "gort"]); go = median(v[g, "go"]); boehm = median(v[g, "boehm"])
            gs = (gort == "") ? "n/a" : num(gort)
            os = (go == "") ? "n/a" : num(go)
            bs = (boehm == "") ? "n/a" : num(boehm)
            reps = count[g, "gort"] + 0
            if (name == "binarytrees" || name == "alloc" || name == "pause") {
                # Three columns. A missing boehm column leaves the verdicts
                # that also compare with Boehm to Go alone (binarytrees time),
                # and those that compare only with Boehm (pause) n/a.
                if (name == "binarytrees" && stat == "time") {
                    target = "<go,<boehm"
                    if (gort == "" || go == "") verdict = "n/a"
                    else verdict = (gort < go && (boehm == "" || gort < boehm)) ? "met" : "missed"
                } else if (name == "binarytrees") {
                    target = "<=1.5xgo"
                    if (gort == "" || go == "") verdict = "n/a"
                    else verdict = (gort <= 1.5 * go) ? "met" : "missed"
                } else if (name == "alloc") {
                    target = "<=go"
                    if (gort == "" || go == "") verdict = "n/a"
                    else verdict = (gort <= go) ? "met" : "missed"
                } else {
                    target = "<=boehm"
                    if (gort == "" || boehm == "") verdict = "n/a"
                    else verdict = (gort <= boehm) ? "met" : "missed"
                }
                line = "name=" name
                if (name == "binarytrees") line = line " depth=" depth[g]
                if (name == "alloc") line = line " size=" f[5]
                if (name == "pause") line = line " live_mb=" live_mb[g]
                line = line " procs=" procs
                if (stat != "") line = line " stat=" stat
                line = line " " ratio_of(gort, go, "go") " " ratio_of(gort, boehm, "boehm")
                line = line " gort=" gs " go=" os " boehm=" bs " unit=" unit[g]
                line = line " target=" target " verdict=" verdict
                if (name == "pause" && stat == "pause_max" && gort != "")
                    line = line " gort_worst=" num(worst(v[g, "gort"]))
                printf "%s reps=%d\n", line, reps
            } else if (name in simple_limit) {
                limit = simple_limit[name]
                if (gort == "" || go == "" || go == 0) { ratio = "n/a"; verdict = "n/a" }
                else {
                    ratio = sprintf("%.2f", gort / go)
                    verdict = (gort / go <= limit) ? "met" : "missed"
                }
                printf "name=%s procs=%s ratio=gort/go=%s gort=%s go=%s unit=%s target=<=%s verdict=%s reps=%d\n",
                    name, procs, ratio, gs, os, unit[g], limit, verdict, reps
            } else if (name == "timers") {
                # The wall time: at most that of Go; the overshoot over the longest
                # sleep: reported beside Go, no target.
                limit = (stat == "wall") ? 1 : ""
                if (gort == "" || go == "" || go == 0) { ratio = "n/a"; verdict = "n/a" }
                else {
                    ratio = sprintf("%.2f", gort / go)
                    verdict = (limit == "") ? "" : ((gort / go <= limit) ? "met" : "missed")
                }
                printf "name=timers procs=%s stat=%s ratio=gort/go=%s gort=%s go=%s unit=%s target=%s verdict=%s ideal_ms=%s reps=%d\n",
                    procs, stat, ratio, gs, os, unit[g], (limit == "" ? "none" : "<=" limit), verdict, ideal_ms[g], reps
            } else if (name == "parked" || name == "parked_chan") {
                # parked: create at most 0.5x Go; both: peak RSS at most 2x
                # Go; the create time of parked_chan and both RSS after release:
                # reported beside Go, no target.
                if (stat == "create" && name == "parked") limit = 0.5
                else if (stat == "peak_rss") limit = 2
                else limit = ""
                if (gort == "" || go == "" || go == 0) { ratio = "n/a"; verdict = "n/a" }
                else {
                    ratio = sprintf("%.2f", gort / go)
                    verdict = (limit == "") ? "" : ((gort / go <= limit) ? "met" : "missed")
                }
                printf "name=%s procs=%s stat=%s ratio=gort/go=%s gort=%s go=%s unit=%s target=%s verdict=%s reps=%d\n",
                    name, procs, stat, ratio, gs, os, unit[g], (limit == "" ? "none" : "<=" limit), verdict, reps
            } else if (name == "stw") {
                if (stat == "pause_p50") limit = 20000
                else if (stat == "pause_max") limit = 200000
                else limit = ""
                if (gort == "") verdict = "n/a"
                else if (limit == "") verdict = ""
                else verdict = (gort < limit) ? "met" : "missed"
                line = sprintf("name=stw scenario=%s procs=%s stat=%s gort=%s unit=%s", scen, procs, stat, gs, unit[g])
                if (limit != "") line = line sprintf(" target=<%d verdict=%s", limit, verdict)
                else line = line " target=none"
                if (stat ~ /_max$/ && gort != "") line = line " gort_worst=" num(worst(v[g, "gort"]))
                if (stat ~ /^pause_/) line = line " go_gc=" os
                printf "%s reps=%d\n", line, reps
            }
        }
    }' "$results"
} | tee "$bin_dir/last-run.txt"

# The pipeline above runs in subshells, so the failure count comes back
# through the kept output.
if grep -q '^# FAILED' "$bin_dir/last-run.txt"; then
    exit 1
fi
exit 0
