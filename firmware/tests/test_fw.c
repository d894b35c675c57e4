/* Host unit tests of the gate firmware (protocol + control layer on the test HAL).
 * Usage: test_fw <vectors.txt>.  A tiny self-written harness: CHECK() counts failures,
 * the exit status is 1 if any check failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/ctl.h"
#include "../src/hal_test.h"
#include "../src/proto.h"
#include "../src/simboard.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        ++checks;                                                     \
        if (!(cond)) {                                                \
            ++failures;                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
        }                                                             \
    } while (0)

static void boot(bool watchdog_reset)
{
    hal_test_reset(watchdog_reset);
    ctl_init();
    proto_init();
    proto_banner();
}

static void feed(const uint8_t *data, size_t n)
{
    hal_test_input(data, n);
    int c;
    while ((c = hal_uart_getc()) >= 0) {
        proto_feed((uint8_t)c);
    }
    ctl_poll();
}

/* Send raw bytes plus '\n'; return the single reply body (checksum verified) or NULL. */
static const char *exchange_raw(const uint8_t *data, size_t n)
{
    static uint8_t buf[1024];
    static char body[512];
    hal_test_clear_output();
    if (n + 1 > sizeof buf) {
        return NULL;
    }
    memcpy(buf, data, n);
    buf[n] = '\n';
    feed(buf, n + 1);
    size_t len;
    const char *out = hal_test_output(&len);
    const char *nl = memchr(out, '\n', len);
    if (nl == NULL || (size_t)(nl - out) + 1 != len) {
        fprintf(stderr, "expected exactly one reply line, got %zu bytes: %s\n", len, out);
        return NULL;
    }
    size_t blen = (size_t)(nl - out);
    if (blen < 3 || out[blen - 3] != '*') {
        return NULL;
    }
    unsigned sum;
    if (sscanf(out + blen - 2, "%2X", &sum) != 1
        || sum != proto_checksum(out, (uint16_t)(blen - 3))) {
        fprintf(stderr, "bad reply checksum: %s\n", out);
        return NULL;
    }
    memcpy(body, out, blen - 3);
    body[blen - 3] = '\0';
    return body;
}

static const char *exchange(const char *cmd)
{
    char line[600];
    snprintf(line, sizeof line, "%s*%02X", cmd, proto_checksum(cmd, (uint16_t)strlen(cmd)));
    return exchange_raw((const uint8_t *)line, strlen(line));
}

static size_t unescape(const char *s, uint8_t *out)
{
    size_t n = 0;
    while (*s != '\0') {
        unsigned v;
        if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1) {
            out[n++] = (uint8_t)v;
            s += 4;
        } else {
            out[n++] = (uint8_t)*s++;
        }
    }
    return n;
}

static void run_vectors(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (f == NULL) {
        return;
    }
    boot(false);
    char text[1024];
    int lineno = 0;
    int used = 0;
    while (fgets(text, sizeof text, f) != NULL) {
        ++lineno;
        text[strcspn(text, "\r\n")] = '\0';
        if (text[0] == '#' || text[0] == '\0') {
            continue;
        }
        char *sep = strstr(text, " => ");
        CHECK(sep != NULL, "%s:%d: no ' => '", path, lineno);
        if (sep == NULL) {
            continue;
        }
        *sep = '\0';
        const char *expect = sep + 4;
        const char *got;
        if (strncmp(text, "RAW:", 4) == 0) {
            uint8_t raw[1024];
            got = exchange_raw(raw, unescape(text + 4, raw));
        } else {
            got = exchange(text);
        }
        size_t elen = strlen(expect);
        int ok;
        if (got == NULL) {
            ok = 0;
        } else if (elen >= 3 && strcmp(expect + elen - 3, "...") == 0) {
            ok = strncmp(got, expect, elen - 3) == 0;
        } else {
            ok = strcmp(got, expect) == 0;
        }
        CHECK(ok, "%s:%d: %s -> got '%s', want '%s'", path, lineno, text,
              got ? got : "(none)", expect);
        ++used;
    }
    fclose(f);
    CHECK(used > 50, "only %d vectors in %s", used, path);
}

static void test_checksum(void)
{
    CHECK(proto_checksum("*IDN?", 5) == 0x56, "checksum of *IDN? is %02X", proto_checksum("*IDN?", 5));
    CHECK(proto_checksum("", 0) == 0, "empty checksum");
}

static void test_power_on_safe(void)
{
    boot(false);
    size_t n;
    const char *out = hal_test_output(&n);
    CHECK(strncmp(out, "!BOOT " FW_IDENTITY "*", strlen("!BOOT " FW_IDENTITY "*")) == 0,
          "banner: %s", out);
    CHECK(!simboard.learn, "learning switch must be open at power-on");
    CHECK(simboard.pot[POT_ETA] == ETA_SAFE, "eta pot %u", simboard.pot[POT_ETA]);
    CHECK(simboard.pot[POT_GAIN_FREE] == GAIN_SAFE && simboard.pot[POT_GAIN_CLAMPED] == GAIN_SAFE,
          "gain pots %u %u", simboard.pot[1], simboard.pot[2]);
    CHECK(simboard.channel == -1 && !simboard.charging, "charge line must be isolated");
    boot(true);
    const char *r = exchange("STAT?");
    CHECK(r != NULL && strstr(r, " fault=4 ") != NULL, "watchdog reset flag: %s", r ? r : "");
}

static void test_host_silence_watchdog(void)
{
    boot(false);
    CHECK(strcmp(exchange("WDT 200"), "OK") == 0, "WDT 200");
    CHECK(strcmp(exchange("ETA 28"), "OK") == 0, "ETA 28");
    CHECK(strcmp(exchange("LEARN 1"), "OK") == 0, "LEARN 1");
    hal_test_advance_ms(150);
    ctl_poll();
    CHECK(simboard.learn, "still learning after 150 ms of silence");
    CHECK(strcmp(exchange("PING"), "PONG") == 0, "PING");
    hal_test_advance_ms(150);
    ctl_poll();
    CHECK(simboard.learn, "a valid line restarts the silence timer");
    hal_test_advance_ms(60);
    ctl_poll();
    CHECK(!simboard.learn, "learning switch opened after 210 ms of silence");
    CHECK(simboard.pot[POT_ETA] == ETA_SAFE, "eta back to safe");
    const char *r = exchange("STAT?");
    CHECK(r != NULL && strstr(r, "learn=0 eta=0 ") != NULL && strstr(r, " fault=1 ") != NULL,
          "status after trip: %s", r ? r : "");
    CHECK(strcmp(exchange("LEARN 1"), "ERR 6 fault latched") == 0, "LEARN refused while latched");
    CHECK(strcmp(exchange("WIN 100"), "ERR 6 fault latched") == 0, "WIN refused while latched");
    CHECK(strcmp(exchange("CLR"), "OK") == 0, "CLR");
    CHECK(strcmp(exchange("LEARN 1"), "OK") == 0, "LEARN after CLR");
    /* a corrupted line is not host activity */
    hal_test_advance_ms(150);
    exchange_raw((const uint8_t *)"PING*00", 7);
    hal_test_advance_ms(60);
    ctl_poll();
    CHECK(!simboard.learn, "corrupted lines do not feed the watchdog");
    /* not learning: silence is fine */
    boot(false);
    hal_test_advance_ms(100000);
    ctl_poll();
    const char *s = exchange("STAT?");
    CHECK(s != NULL && strstr(s, " fault=0 ") != NULL, "no trip when not learning: %s", s ? s : "");
}

static void test_window(void)
{
    boot(false);
    uint32_t before = simboard.learn_windows;
    uint32_t t0 = hal_millis();
    CHECK(strcmp(exchange("WIN 30000"), "OK") == 0, "WIN 30000");
    CHECK(simboard.learn_windows == before + 1, "one window opened");
    CHECK(!simboard.learn, "switch open again after the window");
    CHECK(hal_millis() - t0 >= 30, "reply only after the window closed");
}

static void test_parser_robustness(void)
{
    boot(false);
    uint8_t big[700];
    memset(big, 'A', sizeof big);
    const char *r = exchange_raw(big, sizeof big);
    CHECK(r != NULL && strcmp(r, "ERR 2 line too long") == 0, "overlong: %s", r ? r : "");
    CHECK(strcmp(exchange("PING"), "PONG") == 0, "parser recovers after overlong line");
    /* an empty line gets no reply (used by the driver to resynchronise) */
    hal_test_clear_output();
    feed((const uint8_t *)"\n\r\n", 3);
    size_t n;
    hal_test_output(&n);
    CHECK(n == 0, "empty lines are ignored, got %zu bytes", n);
    /* an exactly-full line is accepted as a line (and fails its checksum) */
    memset(big, 'B', LINE_MAX);
    r = exchange_raw(big, LINE_MAX);
    CHECK(r != NULL && strcmp(r, "ERR 1 bad checksum") == 0, "LINE_MAX bytes: %s", r ? r : "");
    /* two lines in one chunk: two replies */
    hal_test_clear_output();
    char two[64];
    snprintf(two, sizeof two, "PING*%02X\nPING 1*%02X\n", proto_checksum("PING", 4),
             proto_checksum("PING 1", 6));
    feed((const uint8_t *)two, strlen(two));
    const char *out = hal_test_output(&n);
    CHECK(strncmp(out, "PONG*", 5) == 0 && strstr(out, "\nPONG 1*") != NULL, "two lines: %s", out);
}

static void test_commanded_reboot(void)
{
    boot(false);
    CHECK(strcmp(exchange("ETA 28"), "OK") == 0, "ETA 28");
    CHECK(strcmp(exchange("*RST"), "OK") == 0, "*RST answered before rebooting");
    CHECK(proto_reboot_requested(), "reboot requested");
    CHECK(simboard.pot[POT_ETA] == ETA_SAFE, "safe state before the reboot");
    hal_test_clear_output();
    feed((const uint8_t *)"PING*10\n", 8);
    size_t n;
    hal_test_output(&n);
    CHECK(n == 0, "input after *RST belongs to the next boot (%zu bytes answered)", n);
}

static void test_gates_atomic_and_readback(void)
{
    boot(false);
    char cmd[400] = "GATES ";
    for (int i = 0; i < 32; ++i) {
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), i ? ",%d" : "%d",
                 i == 17 ? 900 : 3000);
    }
    CHECK(strcmp(exchange(cmd), "ERR 5 out of range") == 0, "one bad value refuses all");
    for (int i = 0; i < 32; ++i) {
        CHECK(simboard.gate_v[i] == 1.5, "gate %d untouched: %f", i, simboard.gate_v[i]);
    }
    simboard.broken_channel = 5;
    CHECK(strcmp(exchange("GATE 5 3000"), "ERR 7 readback mismatch") == 0, "broken capacitor");
    const char *r = exchange("STAT?");
    CHECK(r != NULL && strstr(r, " fault=2 ") != NULL, "readback fault flag: %s", r ? r : "");
    CHECK(strcmp(exchange("GATE 6 5500"), "OK") == 0, "large step settles by extra passes");
    CHECK(strcmp(exchange("GATE? 6"), "5500") == 0, "5.5 V read back");
    CHECK(simboard.channel == -1 && !simboard.charging, "charge line isolated after setting");
}

static bool reply_is(const char *cmd, const char *want)
{
    const char *r = exchange(cmd);
    return r != NULL && strcmp(r, want) == 0;
}

/* lambda in ppm: the firmware's integer arithmetic against the simulated analog stages. */
static void test_lambda_encoding(void)
{
    boot(false);
    int bad_pairs = 0;
    for (int c = 0; c <= (int)POT_MAX; ++c) {
        for (int f = 0; f <= c; ++f) {
            double ratio = simboard_amp_gain((uint8_t)f) / simboard_amp_gain((uint8_t)c);
            double exact = 1e6 * (1.0 - ratio * ratio);
            double got = (double)ctl_taps_lambda_ppm((uint8_t)f, (uint8_t)c);
            bad_pairs += fabs(got - exact) > 0.5 + 1e-6;
        }
    }
    CHECK(bad_pairs == 0, "%d tap pairs whose ppm is not lambda rounded", bad_pairs);
    CHECK(ctl_taps_lambda_ppm(POT_MAX, POT_MAX) == 0U, "equal taps give lambda 0");
    CHECK(ctl_taps_lambda_ppm(5, 4) == 0U, "G_free > G_clamped is never reported");
    uint32_t max = ctl_lambda_max_ppm();
    CHECK(max >= 60000U, "lambda range reaches 0.06: %lu ppm", (unsigned long)max);
    uint32_t worst = 0;
    for (uint8_t t = 0; t < POT_MAX; ++t) {
        uint32_t step = ctl_taps_lambda_ppm(t, GAIN_TAP_CLAMPED)
                        - ctl_taps_lambda_ppm((uint8_t)(t + 1U), GAIN_TAP_CLAMPED);
        worst = step > worst ? step : worst;
    }
    CHECK(worst > 0U && worst <= 600U, "lambda step %lu ppm", (unsigned long)worst);

    char cmd[32];
    char want[32];
    int wrong = 0;
    for (uint32_t ppm = 0; ppm <= max; ppm += 37U) {
        snprintf(cmd, sizeof cmd, "LAM %lu", (unsigned long)ppm);
        if (!reply_is(cmd, "OK") || simboard.pot[POT_GAIN_CLAMPED] != GAIN_TAP_CLAMPED) {
            ++wrong;
            continue;
        }
        uint8_t tap = simboard.pot[POT_GAIN_FREE];
        uint32_t set = ctl_taps_lambda_ppm(tap, GAIN_TAP_CLAMPED);
        uint32_t dist = set > ppm ? set - ppm : ppm - set;
        for (uint8_t t = 0; t <= POT_MAX; ++t) { /* nearest; a tie keeps the smaller lambda */
            uint32_t l = ctl_taps_lambda_ppm(t, GAIN_TAP_CLAMPED);
            uint32_t d = l > ppm ? l - ppm : ppm - l;
            wrong += d < dist || (d == dist && l < set);
        }
        wrong += fabs(1e6 * simboard_lambda() - (double)ppm) > worst / 2.0 + 1.0;
        snprintf(want, sizeof want, "%lu", (unsigned long)set);
        wrong += !reply_is("LAM?", want);
    }
    CHECK(wrong == 0, "%d LAM requests not set to the nearest tap", wrong);
    snprintf(cmd, sizeof cmd, "LAM %lu", (unsigned long)max);
    CHECK(reply_is(cmd, "OK") && simboard.pot[POT_GAIN_FREE] == 0U, "LAM max -> tap 0");
    snprintf(cmd, sizeof cmd, "LAM %lu", (unsigned long)max + 1U);
    CHECK(reply_is(cmd, "ERR 5 out of range"), "LAM above the range refused");
    CHECK(reply_is("LAM -1", "ERR 5 out of range"), "negative LAM refused");
    CHECK(reply_is("LAM", "ERR 4 bad argument") && reply_is("LAM 0.01", "ERR 4 bad argument"),
          "LAM needs one integer");
    CHECK(simboard.pot[POT_GAIN_FREE] == 0U, "refused LAM leaves the gains alone");
    CHECK(reply_is("GAIN 100 120", "OK"), "GAIN 100 120");
    snprintf(want, sizeof want, "%lu", (unsigned long)ctl_taps_lambda_ppm(100, 120));
    CHECK(reply_is("LAM?", want), "LAM? of any tap pair");
    CHECK(reply_is("SAFE", "OK") && reply_is("LAM?", "0"), "safe state is lambda 0");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s vectors.txt\n", argv[0]);
        return 2;
    }
    test_checksum();
    test_power_on_safe();
    run_vectors(argv[1]);
    test_host_silence_watchdog();
    test_window();
    test_parser_robustness();
    test_gates_atomic_and_readback();
    test_lambda_encoding();
    test_commanded_reboot();
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
