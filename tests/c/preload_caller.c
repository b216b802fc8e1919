/* A library that dlopen()s from its own code, so that glibc takes the caller's RUNPATH and $ORIGIN
 * from it. Its constructor opens each name of CALLER_DLOPEN (':'-separated) and prints
 * "caller dlopen NAME ok" or "caller dlopen NAME failed: DLERROR"; with -DMLM it uses
 * dlmopen(LM_ID_NEWLM) instead. caller_dlopen_later() does the same for CALLER_DLOPEN_LATER, when
 * the program calls it (audit_prog's call:caller_dlopen_later, after a chdir say).
 * Build it with -Wl,--enable-new-dtags,-rpath,'$ORIGIN/sub'. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void open_list(const char *env)
{
    char list[4096], *save = 0, *name;
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

__attribute__((constructor)) static void open_them(void) { open_list(getenv("CALLER_DLOPEN")); }

void caller_dlopen_later(void) { open_list(getenv("CALLER_DLOPEN_LATER")); }
