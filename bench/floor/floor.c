/* The floor: the least a generator can do per HTTP/1.1 keep-alive request on this
 * machine. One thread, blocking sockets, no event loop, no parsing beyond counting
 * bytes: for each connection in turn one write(2) of the request, then for each
 * connection read(2) until its reply's known length has arrived (one read when the
 * reply fits, which it does for the small benchmark file).
 *
 *   floor HOST PORT CONNECTIONS REPLY_BYTES DURATION_S
 *
 * Prints one JSON line: requests, duration_s, reads, writes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: floor HOST PORT CONNECTIONS REPLY_BYTES DURATION_S\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), conns = atoi(argv[3]);
    long reply = atol(argv[4]);
    double duration = atof(argv[5]);
    if (conns < 1 || reply < 1 || duration <= 0) {
        fprintf(stderr, "floor: CONNECTIONS, REPLY_BYTES and DURATION_S must be positive\n");
        return 2;
    }
    char request[256];
    int len = snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port);
    int *fds = calloc(conns, sizeof *fds);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "floor: %s is not an IPv4 address\n", host);
        return 2;
    }
    for (int i = 0; i < conns; i++) {
        int one = 1;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("floor: connect");
            return 1;
        }
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char buf[65536];
    long requests = 0, reads = 0, writes = 0;
    double start = now_s(), end = start + duration, t = start;
    while (t < end) {
        for (int i = 0; i < conns; i++) {
            if (write(fds[i], request, len) != len) {
                perror("floor: write");
                return 1;
            }
            writes++;
        }
        for (int i = 0; i < conns; i++) {
            long got = 0;
            while (got < reply) {
                ssize_t n = read(fds[i], buf, sizeof buf);
                reads++;
                if (n <= 0) {
                    fprintf(stderr, "floor: the server closed or failed after %ld requests\n", requests);
                    return 1;
                }
                got += n;
            }
            if (got != reply) {
                fprintf(stderr, "floor: reply of %ld bytes, expected %ld (pipelining?)\n", got, reply);
                return 1;
            }
            requests++;
        }
        t = now_s();
    }
    printf("{\"requests\": %ld, \"duration_s\": %.6f, \"reads\": %ld, \"writes\": %ld}\n",
           requests, t - start, reads, writes);
    return 0;
}
