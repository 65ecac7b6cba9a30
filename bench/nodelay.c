/*
 * nodelay.c: LD_PRELOAD shim that sets TCP_NODELAY on every TCP socket returned by
 * accept() or accept4().
 *
 * Unbound 1.17 does not set TCP_NODELAY on the TCP/TLS connections it accepts, so a
 * DNS-over-TLS answer written in several small TLS records can wait for the peer's
 * delayed ACK (Nagle). That adds tens of milliseconds of latency that has nothing to do
 * with the proxy being measured. The benchmark therefore runs its Unbound instances with
 *
 *     LD_PRELOAD=/path/to/nodelay.so unbound -d -c unbound.conf
 *
 * Build: gcc -O2 -Wall -shared -fPIC -o nodelay.so nodelay.c -ldl
 *
 * If NODELAY_VERBOSE is set in the environment, each socket that gets TCP_NODELAY is
 * reported on stderr (used by bench/run.sh once, to check that the shim is active).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void set_nodelay(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return;
    int one = 1;
    int rc = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (getenv("NODELAY_VERBOSE") != NULL) {
        char msg[96];
        int n = snprintf(msg, sizeof msg, "nodelay.so: TCP_NODELAY on fd %d: %s\n", fd,
                         rc == 0 ? "ok" : "failed");
        if (n > 0)
            (void)!write(2, msg, (size_t)n);
    }
}

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    static accept_fn real;
    if (real == NULL)
        real = (accept_fn)dlsym(RTLD_NEXT, "accept");
    int s = real(fd, addr, addrlen);
    set_nodelay(s);
    return s;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    static accept4_fn real;
    if (real == NULL)
        real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    int s = real(fd, addr, addrlen, flags);
    set_nodelay(s);
    return s;
}
