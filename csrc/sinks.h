/* Where records go: a JSON-lines file, syslog (/dev/log), stderr.
 * Each delivery is one non-blocking write that is allowed to fail: a record must never stall or
 * kill the process it describes (full disk, missing /dev/log, a FIFO in place of the log file). */
#ifndef EXECCHECK_SINKS_H
#define EXECCHECK_SINKS_H

#include <stddef.h>

/* Appends line to path: O_APPEND|O_CREAT(0600)|O_NOFOLLOW|O_NONBLOCK, regular files only. 0 or -errno.
 * pid: the process the line speaks for (its caller's getpid()); a child forked since (by a signal
 * handler) writes nothing: the line is its parent's, which writes it. */
int ec_sink_file(const char *path, const char *line, size_t len, int pid);
/* Sends "<pri>execcheck[pid]: line" to /dev/log as one datagram (pid: this process's, as the
 * caller already knows it). 0 or -errno. */
int ec_sink_syslog(int priority, int pid, const char *line, size_t len);
/* Writes line to fd 2. 0 or -errno. */
int ec_sink_stderr(const char *line, size_t len);

#endif
