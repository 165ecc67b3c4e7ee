/* A guest's CPU load: busy for PERCENT of every 10 ms (100: always). */
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    long pct = argc > 1 ? atol(argv[1]) : 100;
    const long long period = 10000000LL;
    for (;;) {
        long long start = now_ns();
        while (now_ns() - start < period * pct / 100)
            ;
        if (pct < 100) {
            struct timespec rest = { 0, period * (100 - pct) / 100 };
            nanosleep(&rest, NULL);
        }
    }
}
