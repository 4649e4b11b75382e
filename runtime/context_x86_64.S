/* runtime/context_x86_64.S - the context switch for x86-64 (System V).
 *
 * gort_rt_context_swap(from, to): pushes the callee-saved registers (rbp, rbx,
 * r12-r15) and the MXCSR and x87 control words on the current stack, stores
 * the stack pointer in from->sp, loads to->sp and pops the same. The saved
 * stack pointer is 16-byte aligned. A fresh context (context_common.c) holds
 * a frame whose return address is gort_rt_context_trampoline, with the entry
 * function in rbx and its argument in r12.
 */
    .text
    .globl  gort_rt_context_swap
    .hidden gort_rt_context_swap
    .type   gort_rt_context_swap, @function
    .p2align 4
gort_rt_context_swap:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   gort_rt_context_swap, .-gort_rt_context_swap

    .globl  gort_rt_context_trampoline
    .hidden gort_rt_context_trampoline
    .type   gort_rt_context_trampoline, @function
    .p2align 4
gort_rt_context_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%rbx
    ud2
    .cfi_endproc
    .size   gort_rt_context_trampoline, .-gort_rt_context_trampoline

    .section .note.GNU-stack,"",@progbits
