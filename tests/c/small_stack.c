/* The test program of tests/test_small_stack.py: dlopen(argv[1]), then says how it went with a
 * write() alone - printf's buffers (8 KiB of stack for an unbuffered stream) would be the deepest
 * point of the program and hide what the loader and the shim take.
 * Prints "ok" and exits 0, or "failed" and exits 1. */
#include <dlfcn.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW) : 0;
    if (h) return write(1, "ok\n", 3) == 3 ? 0 : 2;
    return write(1, "failed\n", 7) == 7 ? 1 : 2;
}
