/*
 * delaywire -- userland constant-delay link for the peex benchmark.
 *
 *   delaywire OUTER_IF NETNS_FILE INNER_IF ONE_WAY_US
 *
 * Used by bench/peexbench/link.py only when the kernel cannot do
 * `tc qdisc ... netem` (sch_netem missing).  Opens TUN device OUTER_IF in the
 * current network namespace and TUN device INNER_IF inside the namespace
 * NETNS_FILE (/run/netns/NAME), prints "ready" on stdout, then forwards every
 * IP packet between the two devices, holding each one ONE_WAY_US microseconds
 * (per direction, FIFO, no loss unless the queue overflows): the round trip
 * between the two sides is 2 * ONE_WAY_US.  The devices are not persistent:
 * they vanish when the process exits (SIGTERM / SIGINT / stdin EOF ignored).
 * On exit it prints per-direction packet and drop counts to stderr.
 *
 * Built at run time by the benchmark:  cc -O2 -o run/delaywire delaywire.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { PKT_MAX = 2048, RING = 16384 };

struct pkt {
    uint64_t due_ns;
    uint16_t len;
    unsigned char data[PKT_MAX];
};

/* one direction of the wire: packets read from `from` are written to `to` */
struct lane {
    const char *name;
    int from, to;
    struct pkt *ring;
    size_t head, count;
    unsigned long long forwarded, dropped;
};

static volatile sig_atomic_t quit_flag;
static void on_signal(int sig) { (void)sig; quit_flag = 1; }

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int open_tun(const char *ifname)
{
    struct ifreq req;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        perror("delaywire: /dev/net/tun");
        exit(1);
    }
    memset(&req, 0, sizeof req);
    req.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(req.ifr_name, sizeof req.ifr_name, "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &req) < 0) {
        fprintf(stderr, "delaywire: TUNSETIFF %s: %s\n", ifname, strerror(errno));
        exit(1);
    }
    return fd;
}

/* take every packet currently readable on lane->from into the ring */
static void lane_take(struct lane *l, uint64_t delay_ns)
{
    static unsigned char discard[PKT_MAX];
    for (;;) {
        struct pkt *slot = NULL;
        unsigned char *buf = discard;
        if (l->count < RING) {
            slot = &l->ring[(l->head + l->count) % RING];
            buf = slot->data;
        }
        ssize_t n = read(l->from, buf, PKT_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* EAGAIN: drained */
        if (!slot) {
            l->dropped++;
            continue;
        }
        slot->len = (uint16_t)n;
        slot->due_ns = mono_ns() + delay_ns;
        l->count++;
    }
}

/* send every packet whose time has come; return ns until the next one, or -1 */
static int64_t lane_give(struct lane *l)
{
    uint64_t now = mono_ns();
    while (l->count) {
        struct pkt *p = &l->ring[l->head];
        if (p->due_ns > now)
            return (int64_t)(p->due_ns - now);
        /* a full device queue or a downed link loses the packet, like a real wire */
        if (write(l->to, p->data, p->len) == p->len)
            l->forwarded++;
        else
            l->dropped++;
        l->head = (l->head + 1) % RING;
        l->count--;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s OUTER_IF NETNS_FILE INNER_IF ONE_WAY_US\n", argv[0]);
        return 2;
    }
    uint64_t delay_ns = strtoull(argv[4], NULL, 10) * 1000ULL;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake up on time, not 50 us late */

    int outer = open_tun(argv[1]);
    int nsfd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "delaywire: enter %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    close(nsfd);
    int inner = open_tun(argv[3]);

    struct lane lanes[2] = {
        { .name = "out->in", .from = outer, .to = inner },
        { .name = "in->out", .from = inner, .to = outer },
    };
    for (int i = 0; i < 2; i++) {
        lanes[i].ring = calloc(RING, sizeof(struct pkt));
        if (!lanes[i].ring) {
            perror("delaywire: calloc");
            return 1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("ready %s <-> %s one-way %llu us\n", argv[1], argv[3],
           (unsigned long long)(delay_ns / 1000));
    fflush(stdout);

    while (!quit_flag) {
        int64_t wait_ns = -1;
        for (int i = 0; i < 2; i++) {
            int64_t w = lane_give(&lanes[i]);
            if (w >= 0 && (wait_ns < 0 || w < wait_ns))
                wait_ns = w;
        }
        struct pollfd pfd[2] = { { outer, POLLIN, 0 }, { inner, POLLIN, 0 } };
        struct timespec ts, *tsp = NULL;
        if (wait_ns >= 0) {
            ts.tv_sec = wait_ns / 1000000000LL;
            ts.tv_nsec = wait_ns % 1000000000LL;
            tsp = &ts;
        }
        if (ppoll(pfd, 2, tsp, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("delaywire: ppoll");
            break;
        }
        if (pfd[0].revents & POLLIN)
            lane_take(&lanes[0], delay_ns);
        if (pfd[1].revents & POLLIN)
            lane_take(&lanes[1], delay_ns);
    }
    for (int i = 0; i < 2; i++)
        fprintf(stderr, "delaywire: %s forwarded %llu dropped %llu\n", lanes[i].name,
                lanes[i].forwarded, lanes[i].dropped);
    return 0;
}
