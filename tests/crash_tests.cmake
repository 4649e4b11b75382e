# Crash tests: each runs a tests/crash_*.c program through gort_crash_driver,
# which passes when the program dies by the expected signal and its output
# matches the regex (see gort_add_crash_test in tests/CMakeLists.txt).

# Readying a task that is not parked (sched/park.c).
gort_add_crash_test(NAME crash_ready_of_a_running_task PROGRAM crash_ready_not_parked
    ARGS running SIGNAL 6 REGEX "gort: fatal: ready of task [0-9]+, which is not parked")
gort_add_crash_test(NAME crash_ready_twice_of_one_park PROGRAM crash_ready_not_parked
    ARGS twice SIGNAL 6 REGEX "gort: fatal: ready of task [0-9]+, which is not parked")

# Stack overflow in each guard mode (runtime/stack.c).
set(GORT_OVERFLOW_REGEX "gort: fatal: stack overflow in task [0-9]+ \\([0-9]+-byte stack\\)")
foreach(mode default mprotect none none-alone)
    gort_add_crash_test(NAME crash_stack_overflow_${mode} PROGRAM crash_stack_overflow
        ARGS ${mode} SIGNAL 6 REGEX "${GORT_OVERFLOW_REGEX}")
endforeach()

# Allocation from a thread that is not attached (gc/alloc.c).
set(GORT_UNATTACHED_ALLOC_REGEX "gort: fatal: [^\n]*alloc[^\n]*(unattached|not attached)")
foreach(mode new bytes array large thread detached)
    gort_add_crash_test(NAME crash_gc_unattached_alloc_${mode} PROGRAM crash_gc_unattached_alloc
        ARGS ${mode} SIGNAL 6 REGEX "${GORT_UNATTACHED_ALLOC_REGEX}")
endforeach()

# Misuse of task-aware sync that Go answers with a panic (sched/ sync).
foreach(mode mutex_unlock mutex_unlock_twice mutex_unlock_thread)
    gort_add_crash_test(NAME crash_sync_${mode} PROGRAM crash_sync_misuse
        ARGS ${mode} SIGNAL 6 REGEX "gort: fatal: unlock of unlocked mutex")
endforeach()
foreach(mode wg_negative wg_done_extra wg_add_negative_big)
    gort_add_crash_test(NAME crash_sync_${mode} PROGRAM crash_sync_misuse
        ARGS ${mode} SIGNAL 6 REGEX "gort: fatal: negative waitgroup counter")
endforeach()
foreach(mode rw_runlock rw_runlock_twice rw_runlock_write_locked)
    gort_add_crash_test(NAME crash_sync_${mode} PROGRAM crash_sync_misuse
        ARGS ${mode} SIGNAL 6 REGEX "gort: fatal: runlock of unlocked rwmutex")
endforeach()
foreach(mode rw_unlock rw_unlock_twice rw_unlock_read_locked)
    gort_add_crash_test(NAME crash_sync_${mode} PROGRAM crash_sync_misuse
        ARGS ${mode} SIGNAL 6 REGEX "gort: fatal: unlock of unlocked rwmutex")
endforeach()

# Close of a closed channel and of the NULL channel (sched/chan.c): Go's
# "close of closed channel" and "close of nil channel" panics.
foreach(mode buffered unbuffered)
    gort_add_crash_test(NAME crash_chan_close_closed_${mode} PROGRAM crash_chan_close_closed
        ARGS ${mode} SIGNAL 6 REGEX "gort: fatal: close of closed channel")
endforeach()
gort_add_crash_test(NAME crash_chan_close_null PROGRAM crash_chan_close_null
    SIGNAL 6 REGEX "gort: fatal: close of nil channel")
