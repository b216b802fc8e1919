/* 3.14's `python -m pdb -p PID` has the target run (sys.remote_exec) a script it wrote: a 0644 file
 * in /tmp that connects back to the attacher's localhost port. Under RESTRICT_FILE the target
 * refuses that file, nothing connects, and the attacher waits in accept() for ever: pdb has no
 * timeout, PEP 768 no reply channel. The attacher is told here instead, as a remote debugger
 * refused under DENY_INTERACTIVE is told: the port is read from the refused file as data (a file of
 * exactly pdb's form; nothing of it runs), one error message goes there in pdb's own protocol, and
 * the connection is closed: the attacher prints the message and ends. Whoever named the file could
 * write this process's memory (PEP 768 needs ptrace rights over it): a port read from it gives
 * them nothing more than that. */
#include "pdb_attacher.h"
#include "sys.h"
#include "text.h"

#define SCRIPT_MAX 1024

/* pdb.attach's script: "import pdb, sys" then pdb._connect(host="localhost", port=N, ...). The
 * port, or 0 if the text is not of that form. */
static unsigned port_of(const char *text)
{
    static const char head[] = "import pdb, sys\npdb._connect(\n", host[] = "host=\"localhost\",", port[] = "port=";
    const char *s = text;
    unsigned n = 0;
    while (*s == '\n' || *s == ' ') s++;
    if (ec_strncmp(s, head, sizeof head - 1)) return 0;
    for (s += sizeof head - 1; *s == ' '; s++) {}
    if (ec_strncmp(s, host, sizeof host - 1)) return 0;
    for (s += sizeof host - 1; *s == ' ' || *s == '\n'; s++) {}
    if (ec_strncmp(s, port, sizeof port - 1)) return 0;
    for (s += sizeof port - 1; *s >= '0' && *s <= '9' && n <= 65535; s++) n = n * 10 + (unsigned)(*s - '0');
    return *s == ',' && n > 0 && n <= 65535 ? n : 0;
}

struct sockaddr_in4 { unsigned short family, port; unsigned addr; unsigned char zero[8]; };
struct timeval_native { long sec, usec; }; /* SO_SNDTIMEO's, on each of the three */

void ec_pdb_attacher_refused(int fd, const char *message)
{
    char text[SCRIPT_MAX], line[1400];
    struct sockaddr_in4 to;
    struct timeval_native wait = {1, 0}; /* a connect or write on loopback that takes longer: given up */
    struct ec_buf b;
    long n = ec_pread(fd, text, sizeof text - 1, 0);
    unsigned port;
    int s;
    if (n <= 0) return;
    text[n] = 0;
    if (!(port = port_of(text))) return;
    s = (int)ec_sys3(EC_NR_socket, 2 /* AF_INET */, 1 /* SOCK_STREAM */ | 02000000 /* SOCK_CLOEXEC */, 0);
    if (s < 0) return;
    ec_memset(&to, 0, sizeof to);
    to.family = 2;
    to.port = (unsigned short)((port >> 8) | ((port & 0xff) << 8));
    to.addr = 0x0100007f; /* 127.0.0.1: pdb's create_server(("localhost", 0)) */
    ec_sys5(EC_NR_setsockopt, s, 1 /* SOL_SOCKET */, 21 /* SO_SNDTIMEO */, &wait, sizeof wait);
    if (ec_sys3(EC_NR_connect, s, &to, sizeof to) == 0) {
        ec_buf_init(&b, line, sizeof line);
        ec_buf_puts(&b, "{\"message\": ");
        ec_buf_put_json_str_max(&b, message, 1200);
        ec_buf_puts(&b, ", \"type\": \"error\"}\n");
        ec_write(s, line, b.len);
    }
    ec_close(s);
}
