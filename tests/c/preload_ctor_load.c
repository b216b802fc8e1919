/* A library whose constructor loads another one behind any dlopen() interposer: libc's own
 * dlopen/dlmopen, found with dlvsym(RTLD_NEXT) - as code that wants to dodge a shim would do.
 *   CTOR_LOAD=PATH       the library to load
 *   CTOR_LOAD_NS=new     into a new namespace (dlmopen LM_ID_NEWLM); otherwise dlopen
 * It says "ctor-load ok" or "ctor-load failed" (raw write, before stdio may be ready). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAY(msg) (void)!write(1, msg, sizeof msg - 1)

__attribute__((constructor)) static void load(void)
{
    const char *path = getenv("CTOR_LOAD"), *ns = getenv("CTOR_LOAD_NS");
    void *h;
    if (!path) return;
    if (ns && !strcmp(ns, "new")) {
        void *(*real)(Lmid_t, const char *, int) = (void *(*)(Lmid_t, const char *, int))dlvsym(RTLD_NEXT, "dlmopen", "GLIBC_2.34");
        h = real ? real(LM_ID_NEWLM, path, RTLD_NOW) : 0;
    } else {
        void *(*real)(const char *, int) = (void *(*)(const char *, int))dlvsym(RTLD_NEXT, "dlopen", "GLIBC_2.34");
        h = real ? real(path, RTLD_NOW) : 0;
    }
    if (h)
        SAY("ctor-load ok\n");
    else
        SAY("ctor-load failed\n");
}
