/*
 * spate-loadgen: a small librdkafka load generator for Spate's end-to-end benchmarks (BENCHMARKS.md,
 * "Broker end to end (issue 4)").
 *
 *   spate-loadgen create  -b HOST:PORT -t TOPIC -p PARTITIONS
 *   spate-loadgen produce -b HOST:PORT -t TOPIC -n COUNT -s SIZE [-a ACKS] [-l LINGER_MS] [-B BATCH_BYTES]
 *   spate-loadgen consume -b HOST:PORT -t TOPIC -n COUNT
 *   spate-loadgen e2e     -b HOST:PORT -t TOPIC -r RATE -d SECONDS -s SIZE [-a ACKS] [-l LINGER_MS]
 *
 * produce: COUNT records of SIZE bytes, no key, spread round-robin over the topic's partitions (partition = i mod n),
 *   throughput settings (linger, large batches, large queue). Reports records/s, MB/s (10^6 bytes of record values
 *   per second, from the first produce call to the last delivery report) and the delivery latency (produce call to
 *   delivery report) p50/p99/p99.9/max.
 * consume: an assigned consumer (no group membership, no commits) reads COUNT records from the beginning of every
 *   partition with large fetches (fetch.max.bytes 50 MiB, max.partition.fetch.bytes 10 MiB). Reports MB/s from the
 *   assignment to the COUNT-th record.
 * e2e: one thread produces at a fixed RATE for SECONDS with CLOCK_MONOTONIC ns in the first 8 bytes of each value;
 *   a consumer in the same process (assigned from the beginning of a fresh topic) records now - sent for each record.
 *   Reports end-to-end latency p50/p99/p99.9/max.
 * Exit status 0 only if every record was delivered / consumed without error.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static const char *brokers = "127.0.0.1:9092", *topic = "bench", *acks = "1";
static long count = 100000, size = 1024, partitions = 1, rate = 5000, seconds = 10, linger = 5, batch = 1000000;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "spate-loadgen: %s: %s\n", what, detail);
    exit(2);
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) die(key, err);
}

static rd_kafka_t *make(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[512];
    set(conf, "bootstrap.servers", brokers);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    return rk;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Prints p50/p99/p99.9/max of n latencies in ns, as milliseconds (nearest-rank percentiles). */
static void percentiles(const char *label, uint64_t *v, long n) {
    if (n == 0) { printf("%s: no samples\n", label); return; }
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
#define RANK(p) v[(long)((p) * (double)n + 0.999999) - 1 < 0 ? 0 : (long)((p) * (double)n + 0.999999) - 1]
    printf("%s: p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (n=%ld)\n", label, RANK(0.50) / 1e6,
           RANK(0.99) / 1e6, RANK(0.999) / 1e6, v[n - 1] / 1e6, n);
#undef RANK
}

static int partition_count(rd_kafka_t *rk) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e) die("metadata", rd_kafka_err2str(e));
    if (md->topic_cnt != 1 || md->topics[0].err) die("metadata", "topic not found");
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* ---- create ---- */
static int cmd_create(void) {
    char err[512];
    rd_kafka_t *rk = make(RD_KAFKA_PRODUCER, rd_kafka_conf_new());
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, (int)partitions, 1, err, sizeof err);
    if (!nt) die("NewTopic", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) die("CreateTopics", "timed out");
    if (rd_kafka_event_error(ev)) die("CreateTopics", rd_kafka_event_error_string(ev));
    size_t cnt;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    int rc = 0;
    for (size_t i = 0; i < cnt; i++)
        if (rd_kafka_topic_result_error(res[i])) {
            fprintf(stderr, "CreateTopics %s: %s\n", rd_kafka_topic_result_name(res[i]), rd_kafka_topic_result_error_string(res[i]));
            rc = 1;
        }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    if (!rc) printf("created %s with %ld partitions\n", topic, partitions);
    return rc;
}

/* ---- produce ---- */
static uint64_t *lat;
static long delivered, failed;
static uint64_t last_delivery;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    uint64_t t = now_ns();
    if (m->err) {
        if (failed++ < 5) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    lat[delivered++] = t - (uint64_t)(uintptr_t)m->_private;
    last_delivery = t;
}

static rd_kafka_t *make_producer(int throughput) {
    char buf[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "acks", acks);
    snprintf(buf, sizeof buf, "%ld", linger);
    set(conf, "linger.ms", buf);
    set(conf, "compression.type", "none");
    if (throughput) {
        snprintf(buf, sizeof buf, "%ld", batch);
        set(conf, "batch.size", buf);
        set(conf, "batch.num.messages", "100000");
        set(conf, "queue.buffering.max.messages", "2000000");
        set(conf, "queue.buffering.max.kbytes", "1048576");
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return make(RD_KAFKA_PRODUCER, conf);
}

static int cmd_produce(void) {
    rd_kafka_t *rk = make_producer(1);
    int np = partition_count(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char *payload = malloc((size_t)size);
    for (long i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);
    lat = calloc((size_t)count, sizeof *lat);
    uint64_t start = now_ns();
    for (long i = 0; i < count; i++) {
        for (;;) {
            /* RD_KAFKA_MSG_F_COPY: librdkafka copies the value, as an application building records would. */
            if (rd_kafka_produce(rkt, (int32_t)(i % np), RD_KAFKA_MSG_F_COPY, payload, (size_t)size, NULL, 0,
                                 (void *)(uintptr_t)now_ns()) == 0)
                break;
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 1);
        }
        rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_poll(rk, 50);
    double secs = (last_delivery - start) / 1e9;
    printf("produce topic=%s partitions=%d records=%ld size=%ld acks=%s linger.ms=%ld batch.size=%ld\n", topic, np,
           count, size, acks, linger, batch);
    printf("produce: delivered %ld failed %ld in %.3f s: %.0f records/s, %.1f MB/s\n", delivered, failed, secs,
           delivered / secs, delivered * (double)size / secs / 1e6);
    percentiles("produce delivery latency", lat, delivered);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return failed || delivered != count;
}

/* ---- consume ---- */
static rd_kafka_t *make_consumer(int large) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "group.id", "spate-loadgen"); /* required by librdkafka; unused (assign, no commits) */
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "enable.partition.eof", "false");
    if (large) {
        set(conf, "fetch.max.bytes", "52428800");
        set(conf, "max.partition.fetch.bytes", "10485760");
        set(conf, "receive.message.max.bytes", "104857600");
        set(conf, "queued.max.messages.kbytes", "1048576");
    }
    return make(RD_KAFKA_CONSUMER, conf);
}

static void assign_all(rd_kafka_t *rk) {
    int np = partition_count(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    if (e) die("assign", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

static int cmd_consume(void) {
    rd_kafka_t *rk = make_consumer(1);
    uint64_t start = now_ns(), first = 0;
    assign_all(rk);
    long got = 0, errors = 0;
    double bytes = 0;
    uint64_t deadline = start + 120ull * 1000000000ull;
    while (got < count && now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err) {
            if (errors++ < 5) fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (!got) first = now_ns();
            got++;
            bytes += (double)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    uint64_t end = now_ns();
    double secs = (end - start) / 1e9;
    printf("consume topic=%s records=%ld bytes=%.0f errors=%ld in %.3f s (first record after %.3f s)\n", topic, got,
           bytes, errors, secs, first ? (first - start) / 1e9 : 0.0);
    printf("consume: %.0f records/s, %.1f MB/s (from assignment); %.1f MB/s (from first record)\n", got / secs,
           bytes / secs / 1e6, first && end > first ? bytes / ((end - first) / 1e9) / 1e6 : 0.0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got != count;
}

/* ---- e2e ---- */
static volatile long e2e_got;
static uint64_t *e2e_lat;
static long e2e_expected;
static volatile int e2e_stop;

static void *e2e_consumer(void *arg) {
    rd_kafka_t *rk = arg;
    while (!e2e_stop && e2e_got < e2e_expected) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        uint64_t t = now_ns();
        if (!m->err && m->len >= 8) {
            uint64_t sent;
            memcpy(&sent, m->payload, 8);
            e2e_lat[e2e_got] = t - sent;
            e2e_got = e2e_got + 1;
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int cmd_e2e(void) {
    if (size < 8) size = 8;
    e2e_expected = rate * seconds;
    e2e_lat = calloc((size_t)e2e_expected, sizeof *e2e_lat);
    lat = calloc((size_t)e2e_expected, sizeof *lat);
    rd_kafka_t *c = make_consumer(0);
    assign_all(c);
    pthread_t th;
    pthread_create(&th, NULL, e2e_consumer, c);
    rd_kafka_t *rk = make_producer(0);
    int np = partition_count(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char *payload = calloc(1, (size_t)size);
    for (long i = 8; i < size; i++) payload[i] = (char)('a' + i % 26);
    usleep(500000); /* let the consumer connect and start fetching */
    uint64_t start = now_ns(), interval = 1000000000ull / (uint64_t)rate;
    for (long i = 0; i < e2e_expected; i++) {
        uint64_t due = start + (uint64_t)i * interval, t;
        while ((t = now_ns()) < due) {
            rd_kafka_poll(rk, 0);
            uint64_t wait = due - t;
            if (wait > 200000) wait = 200000;
            struct timespec ts = {0, (long)wait};
            nanosleep(&ts, NULL);
        }
        memcpy(payload, &t, 8);
        if (rd_kafka_produce(rkt, (int32_t)(i % np), RD_KAFKA_MSG_F_COPY, payload, (size_t)size, NULL, 0,
                             (void *)(uintptr_t)t) != 0)
            die("produce", rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_poll(rk, 0);
    }
    uint64_t sent_end = now_ns();
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_poll(rk, 50);
    uint64_t deadline = now_ns() + 10ull * 1000000000ull;
    while (e2e_got < e2e_expected && now_ns() < deadline) usleep(10000);
    e2e_stop = 1;
    pthread_join(th, NULL);
    printf("e2e topic=%s partitions=%d rate=%ld/s for %ld s size=%ld acks=%s linger.ms=%ld: sent %ld in %.3f s "
           "(%.0f/s achieved), delivered %ld, failed %ld, consumed %ld\n",
           topic, np, rate, seconds, size, acks, linger, e2e_expected, (sent_end - start) / 1e9,
           e2e_expected / ((sent_end - start) / 1e9), delivered, failed, e2e_got);
    percentiles("e2e latency (produce call -> consumer poll)", e2e_lat, e2e_got);
    percentiles("produce delivery latency", lat, delivered);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return e2e_got != e2e_expected || failed;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: spate-loadgen create|produce|consume|e2e [-b brokers] [-t topic] [-p partitions] "
                        "[-n count] [-s size] [-a acks] [-l linger.ms] [-B batch.size] [-r rate] [-d seconds]\n");
        return 2;
    }
    const char *mode = argv[1];
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "b:t:p:n:s:a:l:B:r:d:")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'p': partitions = atol(optarg); break;
        case 'n': count = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'a': acks = optarg; break;
        case 'l': linger = atol(optarg); break;
        case 'B': batch = atol(optarg); break;
        case 'r': rate = atol(optarg); break;
        case 'd': seconds = atol(optarg); break;
        default: return 2;
        }
    }
    if (!strcmp(mode, "create")) return cmd_create();
    if (!strcmp(mode, "produce")) return cmd_produce();
    if (!strcmp(mode, "consume")) return cmd_consume();
    if (!strcmp(mode, "e2e")) return cmd_e2e();
    die("unknown mode", mode);
    return 2;
}
