/* The i386 system call entry (32-bit programs on x86_64 kernels).
 *
 * int $0x80 takes its six arguments in ebx, ecx, edx, esi, edi and ebp. Inline asm cannot name
 * ebp where the compiler keeps a frame pointer, so sys.h calls this one out-of-line function,
 * which saves the callee-saved registers it loads, takes the arguments off its stack and returns
 * the kernel's result (-errno on failure). Empty on every other architecture. */
#if defined(__i386__)
__asm__(".text\n"
        ".globl ec_i386_syscall6\n"
        ".hidden ec_i386_syscall6\n"
        ".type ec_i386_syscall6, @function\n"
        "ec_i386_syscall6:\n\t"
        "push %ebp\n\t"
        "push %edi\n\t"
        "push %esi\n\t"
        "push %ebx\n\t"
        "mov 20(%esp), %eax\n\t" /* n: four saved registers and the return address above it */
        "mov 24(%esp), %ebx\n\t"
        "mov 28(%esp), %ecx\n\t"
        "mov 32(%esp), %edx\n\t"
        "mov 36(%esp), %esi\n\t"
        "mov 40(%esp), %edi\n\t"
        "mov 44(%esp), %ebp\n\t"
        "int $0x80\n\t"
        "pop %ebx\n\t"
        "pop %esi\n\t"
        "pop %edi\n\t"
        "pop %ebp\n\t"
        "ret\n"
        ".size ec_i386_syscall6, .-ec_i386_syscall6\n");
#else
typedef int ec_syscall_i386_unused; /* a translation unit may not be empty */
#endif
