/* Line protocol implementation (see proto.h and PROTOCOL.md). */
#include "proto.h"

#include <stdbool.h>

#include "config.h"
#include "ctl.h"
#include "hal.h"

static char line[LINE_MAX + 1];
static uint16_t line_len;
static bool line_overflow;
static bool line_bad_byte;
static bool reboot_requested;

static char out[LINE_MAX + 8];
static uint16_t out_len;

static const char HEX[] = "0123456789ABCDEF";

uint8_t proto_checksum(const char *s, uint16_t n)
{
    uint8_t x = 0;
    for (uint16_t i = 0; i < n; ++i) {
        x ^= (uint8_t)s[i];
    }
    return x;
}

static void line_reset(void)
{
    line_len = 0;
    line_overflow = false;
    line_bad_byte = false;
}

void proto_init(void)
{
    line_reset();
    reboot_requested = false;
}

bool proto_reboot_requested(void) { return reboot_requested; }

void proto_send(const char *body)
{
    uint16_t n = 0;
    while (body[n] != '\0' && n < LINE_MAX) {
        ++n;
    }
    uint8_t x = proto_checksum(body, n);
    char tail[4] = {'*', HEX[x >> 4], HEX[x & 15], '\n'};
    hal_uart_write(body, n);
    hal_uart_write(tail, 4);
}

/* --- reply builder ------------------------------------------------------------ */

static void out_reset(void) { out_len = 0; out[0] = '\0'; }

static void out_str(const char *s)
{
    while (*s != '\0' && out_len < LINE_MAX) {
        out[out_len++] = *s++;
    }
    out[out_len] = '\0';
}

static void out_uint(uint32_t v)
{
    char tmp[11];
    uint8_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10U);
        v /= 10U;
    } while (v != 0U);
    while (n > 0U && out_len < LINE_MAX) {
        out[out_len++] = tmp[--n];
    }
    out[out_len] = '\0';
}

static const char *err_text(uint8_t code)
{
    switch (code) {
    case ERR_CHECKSUM: return "bad checksum";
    case ERR_TOO_LONG: return "line too long";
    case ERR_UNKNOWN: return "unknown command";
    case ERR_ARGUMENT: return "bad argument";
    case ERR_RANGE: return "out of range";
    case ERR_FAULT: return "fault latched";
    case ERR_READBACK: return "readback mismatch";
    case ERR_BAD_BYTE: return "bad byte";
    case ERR_BUSY: return "busy";
    default: return "error";
    }
}

static void send_err(uint8_t code)
{
    out_reset();
    out_str("ERR ");
    out_uint(code);
    out_str(" ");
    out_str(err_text(code));
    proto_send(out);
}

static void send_status(uint8_t code)
{
    if (code == ERR_NONE) {
        proto_send("OK");
    } else {
        send_err(code);
    }
}

/* --- argument parsing ------------------------------------------------------------ */

/* Parse an optionally signed decimal of at most 9 digits at *p; advances *p. */
static bool parse_int(const char **p, int32_t *val)
{
    const char *s = *p;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        ++s;
    }
    int32_t v = 0;
    uint8_t digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (digits == 9U) {
            return false;
        }
        v = v * 10 + (*s - '0');
        ++digits;
        ++s;
    }
    if (digits == 0U) {
        return false;
    }
    *val = neg ? -v : v;
    *p = s;
    return true;
}

static void skip_spaces(const char **p)
{
    while (**p == ' ') {
        ++*p;
    }
}

/* Parse exactly n space-separated integers and nothing else. */
static bool parse_args(const char *p, int32_t *vals, uint8_t n)
{
    for (uint8_t i = 0; i < n; ++i) {
        if (*p != ' ') {
            return false;
        }
        skip_spaces(&p);
        if (!parse_int(&p, &vals[i])) {
            return false;
        }
    }
    skip_spaces(&p);
    return *p == '\0';
}

static bool word_is(const char *cmd, uint8_t n, const char *name)
{
    uint8_t i = 0;
    for (; i < n; ++i) {
        if (name[i] == '\0' || name[i] != cmd[i]) {
            return false;
        }
    }
    return name[i] == '\0';
}

/* --- commands -------------------------------------------------------------------- */

static void cmd_gates_set(const char *p)
{
    int32_t mv[N_GATES];
    if (*p != ' ') {
        send_err(ERR_ARGUMENT);
        return;
    }
    skip_spaces(&p);
    for (uint8_t i = 0; i < N_GATES; ++i) {
        if (i > 0U) {
            if (*p != ',') {
                send_err(ERR_ARGUMENT);
                return;
            }
            ++p;
        }
        if (!parse_int(&p, &mv[i])) {
            send_err(ERR_ARGUMENT);
            return;
        }
    }
    skip_spaces(&p);
    if (*p != '\0') {
        send_err(ERR_ARGUMENT);
        return;
    }
    for (uint8_t i = 0; i < N_GATES; ++i) { /* validate everything before touching anything */
        if (ctl_check_gate(i, mv[i]) != ERR_NONE) {
            send_err(ERR_RANGE);
            return;
        }
    }
    for (uint8_t i = 0; i < N_GATES; ++i) {
        uint8_t err = ctl_set_gate(i, mv[i]);
        if (err != ERR_NONE) {
            send_err(err);
            return;
        }
    }
    proto_send("OK");
}

static void cmd_gates_read(void)
{
    out_reset();
    for (uint8_t i = 0; i < N_GATES; ++i) {
        if (i > 0U) {
            out_str(",");
        }
        out_uint(ctl_read_gate(i));
    }
    proto_send(out);
}

static void cmd_status(void)
{
    const ctl_state_t *s = ctl_state();
    out_reset();
    out_str("learn=");
    out_uint(s->learning ? 1U : 0U);
    out_str(" eta=");
    out_uint(s->eta);
    out_str(" gf=");
    out_uint(s->gain_free);
    out_str(" gc=");
    out_uint(s->gain_clamped);
    out_str(" wdt=");
    out_uint(s->wdt_ms);
    out_str(" fault=");
    out_uint(s->faults);
    out_str(" up=");
    out_uint(hal_millis());
    proto_send(out);
}

static void cmd_ping(const char *p)
{
    /* optional token: one space then 1..16 alphanumerics, echoed back */
    out_reset();
    out_str("PONG");
    if (*p == '\0') {
        proto_send(out);
        return;
    }
    if (*p != ' ') {
        send_err(ERR_ARGUMENT);
        return;
    }
    ++p;
    uint8_t n = 0;
    const char *tok = p;
    while ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        ++p;
        ++n;
    }
    if (n == 0U || n > 16U || *p != '\0') {
        send_err(ERR_ARGUMENT);
        return;
    }
    out_str(" ");
    out_str(tok);
    proto_send(out);
}

static void dispatch(char *body)
{
    /* command word: up to the first space, upper-cased in place */
    uint8_t n = 0;
    while (body[n] != '\0' && body[n] != ' ') {
        if (body[n] >= 'a' && body[n] <= 'z') {
            body[n] = (char)(body[n] - 'a' + 'A');
        }
        ++n;
    }
    const char *args = body + n;
    int32_t v[2];

    if (word_is(body, n, "*IDN?") && *args == '\0') {
        proto_send(FW_IDENTITY);
    } else if (word_is(body, n, "PROTO?") && *args == '\0') {
        out_reset();
        out_uint(FW_PROTOCOL);
        proto_send(out);
    } else if (word_is(body, n, "PING")) {
        cmd_ping(args);
    } else if (word_is(body, n, "GATE")) {
        if (!parse_args(args, v, 2)) {
            send_err(ERR_ARGUMENT);
        } else {
            send_status(ctl_check_gate(v[0], v[1]) != ERR_NONE ? ERR_RANGE
                                                               : ctl_set_gate((uint8_t)v[0], v[1]));
        }
    } else if (word_is(body, n, "GATE?")) {
        if (!parse_args(args, v, 1)) {
            send_err(ERR_ARGUMENT);
        } else if (v[0] < 0 || v[0] >= N_GATES) {
            send_err(ERR_RANGE);
        } else {
            out_reset();
            out_uint(ctl_read_gate((uint8_t)v[0]));
            proto_send(out);
        }
    } else if (word_is(body, n, "GATES")) {
        cmd_gates_set(args);
    } else if (word_is(body, n, "GATES?") && *args == '\0') {
        cmd_gates_read();
    } else if (word_is(body, n, "ETA")) {
        send_status(parse_args(args, v, 1) ? ctl_set_eta(v[0]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "ETA?") && *args == '\0') {
        out_reset();
        out_uint(ctl_state()->eta);
        proto_send(out);
    } else if (word_is(body, n, "GAIN")) {
        send_status(parse_args(args, v, 2) ? ctl_set_gains(v[0], v[1]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "GAIN?") && *args == '\0') {
        out_reset();
        out_uint(ctl_state()->gain_free);
        out_str(" ");
        out_uint(ctl_state()->gain_clamped);
        proto_send(out);
    } else if (word_is(body, n, "LAM")) {
        send_status(parse_args(args, v, 1) ? ctl_set_lambda(v[0]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "LAM?") && *args == '\0') {
        out_reset();
        out_uint(ctl_lambda_ppm());
        proto_send(out);
    } else if (word_is(body, n, "LEARN")) {
        send_status(parse_args(args, v, 1) ? ctl_set_learning(v[0]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "WIN")) {
        send_status(parse_args(args, v, 1) ? ctl_window(v[0]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "WDT")) {
        send_status(parse_args(args, v, 1) ? ctl_set_wdt(v[0]) : ERR_ARGUMENT);
    } else if (word_is(body, n, "WDT?") && *args == '\0') {
        out_reset();
        out_uint(ctl_state()->wdt_ms);
        proto_send(out);
    } else if (word_is(body, n, "STAT?") && *args == '\0') {
        cmd_status();
    } else if (word_is(body, n, "SAFE") && *args == '\0') {
        ctl_safe();
        proto_send("OK");
    } else if (word_is(body, n, "*RST") && *args == '\0') {
        ctl_safe();
        proto_send("OK");
        reboot_requested = true;
    } else if (word_is(body, n, "CLR") && *args == '\0') {
        ctl_clear_faults();
        proto_send("OK");
    } else {
        send_err(ERR_UNKNOWN);
    }
}

static int8_t hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return (int8_t)(c - '0');
    }
    if (c >= 'A' && c <= 'F') {
        return (int8_t)(c - 'A' + 10);
    }
    if (c >= 'a' && c <= 'f') {
        return (int8_t)(c - 'a' + 10);
    }
    return -1;
}

static void process_line(void)
{
    line[line_len] = '\0';
    if (line_len < 3U || line[line_len - 3U] != '*') {
        send_err(ERR_CHECKSUM);
        return;
    }
    int8_t hi = hex_val(line[line_len - 2U]);
    int8_t lo = hex_val(line[line_len - 1U]);
    uint16_t body_len = (uint16_t)(line_len - 3U);
    if (hi < 0 || lo < 0 || (uint8_t)((hi << 4) | lo) != proto_checksum(line, body_len)) {
        send_err(ERR_CHECKSUM);
        return;
    }
    line[body_len] = '\0';
    ctl_host_activity();
    dispatch(line);
    ctl_host_activity(); /* silence is measured from the end of the last command */
}

void proto_feed(uint8_t c)
{
    if (reboot_requested) {
        return; /* restarting: the rest of the input belongs to the next boot */
    }
    if (c == '\n') {
        if (line_overflow) {
            send_err(ERR_TOO_LONG);
        } else if (line_bad_byte) {
            send_err(ERR_BAD_BYTE);
        } else if (line_len > 0U) {
            process_line();
        }
        line_reset();
        return;
    }
    if (c == '\r') {
        return;
    }
    if (c < 0x20U || c > 0x7EU) {
        line_bad_byte = true;
        return;
    }
    if (line_len >= LINE_MAX) {
        line_overflow = true;
        return;
    }
    line[line_len++] = (char)c;
}

void proto_banner(void)
{
    out_reset();
    out_str("!BOOT ");
    out_str(FW_IDENTITY);
    proto_send(out);
}
