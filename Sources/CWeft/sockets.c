// Weft's own TCP connections between ranks on different nodes, for networks where Open MPI
// itself would carry messages over TCP (no RDMA device): as NCCL's and Gloo's socket
// transports do, a step's transfers go straight between sockets — one stream per pair of
// ranks, each message a 16-byte header and its bytes read into place — and a rank with
// nothing to do sleeps in poll(2) instead of spinning in MPI's progress engine, leaving the
// core to the kernel's TCP work and to node-mates.
//
// Set-up is collective over the communicator (weft_comm_open_sockets: every rank listens
// once per process and publishes its addresses); connections are made the first time a pair
// exchanges a message, the lower rank connecting. Messages keep MPI's order between a pair:
// the executor posts a step's receives and sends in schedule order, as it posts MPI messages
// under one tag, so the n-th message a rank sends to a peer is the n-th that peer receives.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

enum { ADDRESSES = 4, HEADER_MAGIC = 0x57656674 /* "Weft" */, HELLO_MAGIC = 0x57454c4f };

/// Where a rank listens: up to four IPv4 addresses (network order) and one port.
typedef struct {
    uint32_t addresses[ADDRESSES];
    uint16_t port;
    uint16_t count;
    int32_t unused;
    uint64_t nonce;  // rank 0's: names the communicator in every hello
} endpoint_t;

typedef struct {
    uint32_t magic;
    int32_t rank;
    uint64_t nonce;
} hello_t;

typedef struct {
    uint32_t magic;
    int32_t step;
    int64_t bytes;
} header_t;

struct weft_sockets {
    int rank, ranks;
    uint64_t nonce;
    endpoint_t *endpoints;
    int32_t *node_keys;
    int *fds; // per peer rank, -1 until connected
};

/// Connections accepted for another communicator (or another pair) than the one waiting:
/// kept until their owner asks. Process-wide, like the listener.
typedef struct pending {
    struct pending *next;
    int fd;
    hello_t hello;
} pending_t;

static int listener = -1;
static endpoint_t listening;
static pending_t *pending;
static int open_communicators;
/// Communicators per process with their own connections (each may hold one per peer across
/// nodes); further ones keep MPI's point-to-point, so a program with many never runs out of
/// file descriptors because of Weft.
enum { MAX_COMMUNICATORS = 64 };
static const double HELLO_SECONDS = 5.0;

static int fail_errno(void) { return errno == ENOMEM ? WEFT_ERR_NO_MEMORY : WEFT_ERR_SOCKET; }

/// Opens this process's listener and learns its addresses, once.
static int listen_once(void) {
    if (listener >= 0) return WEFT_OK;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno();
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY), .sin_port = 0};
    socklen_t length = sizeof any;
    if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&any, &length) != 0) {
        close(fd);
        return WEFT_ERR_SOCKET;
    }
    memset(&listening, 0, sizeof listening);
    listening.port = any.sin_port;
    struct ifaddrs *interfaces = NULL;
    if (getifaddrs(&interfaces) == 0) {
        for (struct ifaddrs *i = interfaces; i && listening.count < ADDRESSES; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
            if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) continue;
            listening.addresses[listening.count++] = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
        }
        freeifaddrs(interfaces);
    }
    if (listening.count == 0) {
        close(fd);
        return WEFT_ERR_SOCKET;
    }
    listener = fd;
    return WEFT_OK;
}

static uint64_t fresh_nonce(void) {
    uint64_t n = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
    return weft_fingerprint(n ^ (uint64_t)(weft_wtime() * 1e9), &listening, sizeof listening);
}

int weft_comm_open_sockets(weft_comm_t comm, const int32_t *node_keys, int wanted, int *opened) {
    *opened = 0;
    if (comm->local || comm->sockets) return WEFT_OK;
    int rank = weft_comm_rank(comm), ranks = weft_comm_size(comm);
    endpoint_t mine = {0};
    if (wanted && open_communicators < MAX_COMMUNICATORS && listen_once() == WEFT_OK) mine = listening;
    mine.nonce = rank == 0 ? fresh_nonce() : 0;
    struct weft_sockets *s = calloc(1, sizeof *s);
    endpoint_t *all = calloc((size_t)ranks, sizeof *all);
    int32_t *keys = malloc(sizeof *keys * (size_t)ranks);
    int *fds = malloc(sizeof *fds * (size_t)ranks);
    // Every rank takes part in both calls whatever happened here, and the communicator uses
    // sockets only when every rank can: a pair must agree on how it talks.
    int willing = wanted && listener >= 0 && open_communicators < MAX_COMMUNICATORS && s && all && keys && fds, every = 0;
    int rc = WEFT_WATCHED("MPI_Allreduce", PMPI_Allreduce(&willing, &every, 1, MPI_INT, MPI_MIN, comm->comm));
    if (rc == MPI_SUCCESS && every)
        rc = WEFT_WATCHED("MPI_Allgather",
                          PMPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, comm->comm));
    if (rc != MPI_SUCCESS || !every) {
        free(s), free(all), free(keys), free(fds);
        return rc;
    }
    memcpy(keys, node_keys, sizeof *keys * (size_t)ranks);
    for (int r = 0; r < ranks; r++) fds[r] = -1;
    *s = (struct weft_sockets){.rank = rank, .ranks = ranks, .nonce = all[0].nonce, .endpoints = all,
                               .node_keys = keys, .fds = fds};
    comm->sockets = s;
    open_communicators++;
    *opened = 1;
    return WEFT_OK;
}

void weft_sockets_close(struct weft_sockets *s) {
    if (!s) return;
    for (int r = 0; r < s->ranks; r++)
        if (s->fds[r] >= 0) close(s->fds[r]);
    // Connections for this communicator that arrived but were never asked for.
    for (pending_t **p = &pending; *p;) {
        if ((*p)->hello.nonce == s->nonce) {
            pending_t *gone = *p;
            *p = gone->next;
            close(gone->fd);
            free(gone);
        } else {
            p = &(*p)->next;
        }
    }
    free(s->endpoints), free(s->node_keys), free(s->fds), free(s);
    open_communicators--;
}

int weft_sockets_reach(const struct weft_sockets *s, int peer) {
    return s && peer >= 0 && peer < s->ranks && s->node_keys[peer] != s->node_keys[s->rank];
}

/// Milliseconds until `deadline` for poll (at most one second, so long waits stay checked).
static int poll_millis(double deadline) {
    if (deadline <= 0) return 1000;
    double left = deadline - weft_wtime();
    if (left <= 0) return 0;
    return left > 1.0 ? 1000 : (int)(left * 1000) + 1;
}

/// A peer that died must not end this process with SIGPIPE: the failure is reported instead.
static ssize_t write_some(int fd, const void *bytes, size_t length) { return send(fd, bytes, length, MSG_NOSIGNAL); }

/// Moves `length` bytes through a blocking-with-deadline loop (set-up messages only).
static int exchange_exactly(int fd, void *bytes, size_t length, int send, double deadline) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = send ? write_some(fd, (char *)bytes + done, length - done) : read(fd, (char *)bytes + done, length - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) return WEFT_ERR_PEER_CLOSED;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return errno == EPIPE || errno == ECONNRESET ? WEFT_ERR_PEER_CLOSED : WEFT_ERR_SOCKET;
        struct pollfd p = {.fd = fd, .events = send ? POLLOUT : POLLIN};
        if (deadline > 0 && weft_wtime() > deadline) return WEFT_ERR_TIMEOUT;
        poll(&p, 1, poll_millis(deadline));
    }
    return WEFT_OK;
}

static void tune(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/// The lower rank of a pair connects to the higher's listener and says who it is.
static int connect_to(struct weft_sockets *s, int peer, double deadline) {
    const endpoint_t *e = &s->endpoints[peer];
    for (int a = 0; a < e->count; a++) {
        // An address this host has too (a container bridge such as docker0's 172.17.0.1 on
        // every host) would reach this host, not the peer's.
        int own = 0;
        for (int m = 0; m < listening.count; m++) own |= listening.addresses[m] == e->addresses[a];
        if (own) continue;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return fail_errno();
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = e->addresses[a], .sin_port = e->port};
        int rc = connect(fd, (struct sockaddr *)&to, sizeof to);
        if (rc != 0 && errno == EINPROGRESS) {
            // Five seconds per address at most, within the collective timeout.
            double until = weft_wtime() + 5.0;
            if (deadline > 0 && deadline < until) until = deadline;
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ready = 0;
            while ((ready = poll(&p, 1, poll_millis(until))) <= 0 && weft_wtime() <= until) {}
            int error = 0;
            socklen_t length = sizeof error;
            rc = ready > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0 ? 0 : -1;
        }
        if (rc != 0) {
            close(fd);
            continue;
        }
        tune(fd);
        hello_t hello = {.magic = HELLO_MAGIC, .rank = s->rank, .nonce = s->nonce};
        if ((rc = exchange_exactly(fd, &hello, sizeof hello, 1, deadline)) != WEFT_OK) {
            close(fd);
            return rc;
        }
        s->fds[peer] = fd;
        return WEFT_OK;
    }
    return deadline > 0 && weft_wtime() > deadline ? WEFT_ERR_TIMEOUT : WEFT_ERR_SOCKET;
}

/// The higher rank of a pair takes the lower's connection from the listener; connections
/// for other pairs that arrive first wait in `pending`.
static int accept_from(struct weft_sockets *s, int peer, double deadline) {
    for (;;) {
        for (pending_t **p = &pending; *p; p = &(*p)->next) {
            if ((*p)->hello.nonce == s->nonce && (*p)->hello.rank == peer) {
                pending_t *found = *p;
                *p = found->next;
                s->fds[peer] = found->fd;
                free(found);
                return WEFT_OK;
            }
        }
        struct pollfd p = {.fd = listener, .events = POLLIN};
        if (poll(&p, 1, poll_millis(deadline)) <= 0) {
            if (deadline > 0 && weft_wtime() > deadline) return WEFT_ERR_TIMEOUT;
            continue;
        }
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
            return fail_errno();
        }
        tune(fd);
        pending_t *arrived = malloc(sizeof *arrived);
        if (!arrived) {
            close(fd);
            return WEFT_ERR_NO_MEMORY;
        }
        arrived->fd = fd;
        // Whoever connects has a few seconds to say who it is, so that a stray connection (a
        // port scan) cannot hold this rank even where collectives wait forever.
        double hello_by = weft_wtime() + HELLO_SECONDS;
        int rc = exchange_exactly(fd, &arrived->hello, sizeof arrived->hello, 0,
                                  deadline > 0 && deadline < hello_by ? deadline : hello_by);
        if (rc != WEFT_OK || arrived->hello.magic != HELLO_MAGIC) {
            // Not one of ours (a port scan, a rank that died mid-hello): drop it.
            close(fd);
            free(arrived);
            if (rc == WEFT_ERR_TIMEOUT && deadline > 0 && weft_wtime() > deadline) return rc;
            continue;
        }
        arrived->next = pending;
        pending = arrived;
    }
}

static int connection(struct weft_sockets *s, int peer, double deadline) {
    if (s->fds[peer] >= 0) return WEFT_OK;
    if (listener < 0) return WEFT_ERR_SOCKET;
    return s->rank < peer ? connect_to(s, peer, deadline) : accept_from(s, peer, deadline);
}

/// Moves what it can of one transfer without blocking: 1 if it finished, 0 if it would
/// block, or an error.
static int advance(struct weft_socket_transfer *t, int fd) {
    for (;;) {
        ssize_t n;
        if (t->send) {
            header_t h = {.magic = HEADER_MAGIC, .step = t->step, .bytes = t->bytes};
            struct iovec v[2];
            int count = 0;
            if (t->done < (int64_t)sizeof h) v[count++] = (struct iovec){(char *)&h + t->done, sizeof h - (size_t)t->done};
            int64_t sent = t->done > (int64_t)sizeof h ? t->done - (int64_t)sizeof h : 0;
            if (t->bytes > sent) v[count++] = (struct iovec){t->address + sent, (size_t)(t->bytes - sent)};
            if (count == 0) return 1;
            struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)count};
            n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else if (t->done < (int64_t)sizeof(header_t)) {
            n = recv(fd, (char *)&t->header + t->done, sizeof(header_t) - (size_t)t->done, MSG_DONTWAIT);
            if (n > 0 && t->done + n == (int64_t)sizeof(header_t)) {
                if (t->header.magic != HEADER_MAGIC) return WEFT_ERR_SOCKET;
                if (t->header.bytes != t->bytes || t->header.step != t->step) return WEFT_ERR_COUNT_MISMATCH;
            }
        } else {
            int64_t got = t->done - (int64_t)sizeof(header_t);
            if (got == t->bytes) return 1;
            n = recv(fd, t->address + got, (size_t)(t->bytes - got), MSG_DONTWAIT);
        }
        if (n > 0) {
            t->done += n;
            if (t->done == (int64_t)sizeof(header_t) + t->bytes) return 1;
            continue;
        }
        if (n == 0) return WEFT_ERR_PEER_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return errno == EPIPE || errno == ECONNRESET ? WEFT_ERR_PEER_CLOSED : WEFT_ERR_SOCKET;
    }
}

int weft_sockets_run(struct weft_sockets *s, struct weft_socket_transfer *transfers, int n, MPI_Comm progress,
                     int *unanswered) {
    double deadline = weft_deadline();
    int rc = WEFT_OK;
    for (int i = 0; i < n && rc == WEFT_OK; i++) {
        transfers[i].done = 0, transfers[i].finished = 0;
        rc = connection(s, transfers[i].peer, deadline);
        if (rc != WEFT_OK) *unanswered = transfers[i].peer;
    }
    if (rc != WEFT_OK) return rc;
    struct pollfd stack[64];
    struct pollfd *waits = n <= 64 ? stack : malloc(sizeof *waits * (size_t)n);
    if (!waits) return WEFT_ERR_NO_MEMORY;
    int left = n;
    while (left > 0) {
        int progressed = 0, waiting = 0;
        for (int i = 0; i < n; i++) {
            struct weft_socket_transfer *t = &transfers[i];
            if (t->finished) continue;
            // A pair's messages in one direction go in order: only the first unfinished moves.
            int blocked = 0;
            for (int k = 0; k < i && !blocked; k++)
                blocked = !transfers[k].finished && transfers[k].peer == t->peer && transfers[k].send == t->send;
            if (blocked) continue;
            int64_t before = t->done;
            int r = advance(t, s->fds[t->peer]);
            if (r < 0) {
                *unanswered = t->peer;
                rc = r;
                goto done;
            }
            if (r == 1) t->finished = 1, left--;
            if (t->done != before) progressed = 1;
            if (!t->finished)
                waits[waiting++] = (struct pollfd){.fd = s->fds[t->peer], .events = t->send ? POLLOUT : POLLIN};
        }
        if (left == 0) break;
        if (!progressed && deadline > 0 && weft_wtime() > deadline) {
            for (int i = 0; i < n && *unanswered < 0; i++)
                if (!transfers[i].finished && !transfers[i].send) *unanswered = transfers[i].peer;
            for (int i = 0; i < n && *unanswered < 0; i++)
                if (!transfers[i].finished) *unanswered = transfers[i].peer;
            rc = WEFT_ERR_TIMEOUT;
            break;
        }
        if (progress != MPI_COMM_NULL) {
            // The step also has messages inside the node: keep MPI's progress engine turning
            // (a probe completes nothing) and do not sleep.
            int flag = 0;
            unsigned spins = 0;
            MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, progress, &flag, MPI_STATUS_IGNORE);
            if (!progressed) weft_wait_tick(0, &spins);
        } else if (!progressed) {
            poll(waits, (nfds_t)waiting, poll_millis(deadline));
        }
    }
done:
    if (waits != stack) free(waits);
    return rc;
}
