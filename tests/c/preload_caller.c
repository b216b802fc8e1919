/* A library that dlopen()s from its own code, so that glibc takes the caller's RUNPATH and $ORIGIN
 * from it. Its constructor opens each name of CALLER_DLOPEN (':'-separated) and prints
 * "caller dlopen NAME ok" or "caller dlopen NAME failed: DLERROR"; with -DMLM it uses
 * dlmopen(LM_ID_NEWLM) instead. Build it with -Wl,--enable-new-dtags,-rpath,'$ORIGIN/sub'. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void open_them(void)
{
    char list[4096], *save = 0, *name;
    const char *env = getenv("CALLER_DLOPEN");
    if (!env) return;
    snprintf(list, sizeof list, "%s", env);
    for (name = strtok_r(list, ":", &save); name; name = strtok_r(0, ":", &save)) {
#ifdef MLM
        void *h = dlmopen(LM_ID_NEWLM, name, RTLD_NOW);
#else
        void *h = dlopen(name, RTLD_NOW);
#endif
        if (h)
            printf("caller dlopen %s ok\n", name);
        else
            printf("caller dlopen %s failed: %s\n", name, dlerror());
        fflush(stdout);
    }
}
